"""The course generator: the six steps over the code map, grounding, artifacts, exports."""

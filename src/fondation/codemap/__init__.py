"""The code map: what Fondation knows of a repository before any model is asked anything."""

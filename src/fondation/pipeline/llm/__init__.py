"""The LLM side of the generator: context packing, prompts, structured answers, budgets, the writer."""

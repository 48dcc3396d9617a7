"""LLM providers behind one interface: the Claude CLI, the Anthropic API, OpenAI-compatible servers."""

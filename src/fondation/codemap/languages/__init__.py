"""Language analysers: symbols and imports per language, and how imports name repository files."""

"""The web face: FastAPI pages (Jinja2 + htmx, live over SSE) and the JSON API under /api/v1."""

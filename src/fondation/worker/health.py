"""The worker's HTTP endpoints: `GET /health` (JSON; 503 when unhealthy) and `GET /metrics`.

A small threaded stdlib server: it must answer while the worker is busy or the database is away,
and it has two routes, so a web framework would only add start-up time and memory.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

HealthReport = Callable[[], dict[str, Any]]


class HealthServer:
    """Serves /health and /metrics from callables owned by the worker."""

    def __init__(self, host: str, port: int, report: HealthReport, metrics: Callable[[], bytes]) -> None:
        handler = _make_handler(report, metrics)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="health-server", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _make_handler(report: HealthReport, metrics: Callable[[], bytes]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/health":
                body = report()
                code = 503 if body["status"] == "unhealthy" else 200
                self._send(code, "application/json", json.dumps(body, indent=2).encode())
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics())
            else:
                self._send(404, "application/json", b'{"error": "not found: try /health or /metrics"}')

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes every few seconds would drown the worker's own log: stay quiet."""

    return Handler

"""Local fake LLM servers that speak the real wire protocols, for provider and pipeline tests.

- `FakeAnthropic`: the Anthropic Messages API (`POST /v1/messages`, as JSON or as streamed server-sent
  events in the real event sequence, and `POST /v1/messages/count_tokens`): enough for the `anthropic` SDK
  and for the real Claude Code CLI pointed at it through `ANTHROPIC_BASE_URL`;
- `FakeOpenAI`: the OpenAI chat completions API (`POST /v1/chat/completions`, `GET /v1/models`), which can
  refuse `response_format` with a 400 the way a server without structured output does.

Replies come from a script: first the queue of the call's step (`script_step`, keyed by the
`X-Fondation-Step` header every provider sends), then the general queue (`script`) or a function of the
request's JSON body, then `default`. A `Reply` is a text, a tool call, an HTTP error with its headers, or
a hang. When the Claude CLI asks for structured output (it offers a `StructuredOutput` tool) and the reply
is a JSON text, the fake calls that tool with it, as a model does, so one script serves every provider.

Each server records every request (`requests`: method, path, headers with credentials masked, JSON body),
answers paths it does not know with `{}` (and lists them in `unknown`), refuses proxy tunnels (and lists
them in `tunnels`, so a test can point HTTPS_PROXY at the fake to see whom a client tries to reach), and
may demand a key: a request without it gets the protocol's 401. It listens on 127.0.0.1 on a free port;
use it as a context manager or through the fixtures `fake_anthropic` / `fake_openai`
(`pytest_plugins = ["fake_llm_servers"]`).

PYTEST_DONT_REWRITE: test modules import this one before pytest loads it as a plugin.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

import pytest

#: Request headers whose values are credentials: recorded as a mask, never as sent.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization", "cookie"})
STEP_HEADER = "x-fondation-step"
#: The tool Claude Code offers when it is asked for structured output (`--json-schema`).
STRUCTURED_OUTPUT_TOOL = "StructuredOutput"


@dataclass(frozen=True)
class Reply:
    """One scripted answer; build it with `Reply.text`, `Reply.tool_use`, `Reply.error` or `Reply.hang`."""

    answer: str = ""
    tool_name: str | None = None
    tool_input: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    error_type: str = ""
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    input_tokens: int = 25
    output_tokens: int = 10
    #: False leaves `usage` out of an OpenAI answer, as some local servers do.
    with_usage: bool = True
    delay: float = 0.0

    @classmethod
    def text(cls, answer: str, *, input_tokens: int = 25, output_tokens: int = 10, with_usage: bool = True) -> Reply:
        return cls(answer=answer, input_tokens=input_tokens, output_tokens=output_tokens, with_usage=with_usage)

    @classmethod
    def tool_use(cls, name: str, tool_input: dict[str, Any], *, preamble: str = "") -> Reply:
        """The model asks to run a tool (Anthropic protocol); `preamble` is text it says before the call."""
        return cls(answer=preamble, tool_name=name, tool_input=tool_input)

    @classmethod
    def error(cls, status: int, message: str, *, error_type: str = "", headers: dict[str, str] | None = None) -> Reply:
        return cls(status=status, message=message, error_type=error_type, headers=dict(headers or {}))

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """No answer for `seconds` (or until the server closes), then a text: for client timeouts."""
        return cls(answer="too late", delay=seconds)


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it; credential headers are masked."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any

    @property
    def step(self) -> str | None:
        return self.headers.get(STEP_HEADER)


Script = Iterable[Reply] | Callable[[dict[str, Any]], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: _FakeServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_CONNECT(self) -> None:
        self.server.fake._record_tunnel(self.path)
        self.send_response(403)
        self.send_header("content-length", "0")
        self.end_headers()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        parts = urlsplit(self.path)
        headers = {
            name.lower(): ("****" if name.lower() in SECRET_HEADERS else value) for name, value in self.headers.items()
        }
        request = Recorded(self.command, parts.path, parts.query, headers, body)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.server.fake._serve(self, request)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_events(self, events: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Server-sent events, one `event:`/`data:` pair each, as the Messages API streams them."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for name, data in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True


class _FakeServer:
    """A threaded HTTP server answering from a script and recording every request."""

    #: The headers a client sends its key in, as the key itself or as `Bearer KEY`.
    key_headers: tuple[str, ...] = ()

    def __init__(self, script: Script = (), *, default: Reply | None = None, api_key: str | None = None) -> None:
        self.requests: list[Recorded] = []
        self.unknown: list[Recorded] = []
        self.tunnels: list[str] = []
        self.default = default or Reply.text("Done.")
        self.api_key = api_key
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._queue: list[Reply] = []
        self._steps: dict[str, list[Reply]] = {}
        self._responder: Callable[[dict[str, Any]], Reply] | None = None
        if callable(script):
            self._responder = script
        else:
            self._queue.extend(script)
        self._ids = itertools.count(1)
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *replies: Reply) -> None:
        """Queue replies for any step, answered in order before the default."""
        with self._lock:
            self._queue.extend(replies)

    def script_step(self, step: str, *replies: Reply) -> None:
        """Queue replies for the calls of one pipeline step, answered before the general queue."""
        with self._lock:
            self._steps.setdefault(step, []).extend(replies)

    def calls(self, path: str) -> int:
        """How many requests reached `path` (query string excluded)."""
        with self._lock:
            return sum(1 for request in self.requests if request.path == path)

    def bodies(self, path: str) -> list[Any]:
        with self._lock:
            return [request.body for request in self.requests if request.path == path]

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_id(self) -> int:
        return next(self._ids)

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _record_tunnel(self, target: str) -> None:
        with self._lock:
            self.tunnels.append(target)

    def _record_unknown(self, request: Recorded) -> None:
        with self._lock:
            self.unknown.append(request)

    def _next_reply(self, request: Recorded) -> Reply:
        with self._lock:
            queued = self._steps.get(request.step or "")
            if queued:
                return queued.pop(0)
            responder = self._responder
            if responder is None:
                return self._queue.pop(0) if self._queue else self.default
        return responder(request.body)

    def _key_ok(self, handler: _Handler) -> bool:
        if self.api_key is None:
            return True
        sent = [handler.headers.get(name, "") for name in self.key_headers]
        return any(value in (self.api_key, f"Bearer {self.api_key}") for value in sent)

    def _wait(self, reply: Reply) -> None:
        if reply.delay:
            self._closing.wait(reply.delay)

    def _serve(self, handler: _Handler, request: Recorded) -> None:
        raise NotImplementedError


class FakeAnthropic(_FakeServer):
    """The Anthropic Messages API; `url` is the base URL for the SDK and for `ANTHROPIC_BASE_URL`."""

    key_headers = ("x-api-key", "authorization")

    @property
    def url(self) -> str:
        return self.origin

    def _serve(self, handler: _Handler, request: Recorded) -> None:
        self._record(request)
        if request.method == "POST" and request.path == "/v1/messages":
            if not self._key_ok(handler):
                self._send_error(handler, Reply.error(401, "invalid x-api-key", error_type="authentication_error"))
                return
            reply = self._structured(request.body, self._next_reply(request))
            self._wait(reply)
            if reply.status >= 400:
                self._send_error(handler, reply)
            elif request.body.get("stream"):
                handler.send_events(self._events(request.body, reply))
            else:
                handler.send_json(200, self._message(request.body, reply), {"request-id": "req_fake"})
        elif request.method == "POST" and request.path == "/v1/messages/count_tokens":
            handler.send_json(200, {"input_tokens": len(json.dumps(request.body)) // 4})
        else:
            self._record_unknown(request)
            handler.send_json(200, {})

    @staticmethod
    def _structured(body: dict[str, Any], reply: Reply) -> Reply:
        """A JSON text becomes a call of the structured-output tool when the client offers one."""
        offered = any(tool.get("name") == STRUCTURED_OUTPUT_TOOL for tool in body.get("tools") or [])
        if not offered or reply.status >= 400 or reply.tool_name:
            return reply
        try:
            document = json.loads(reply.answer)
        except ValueError:
            return reply
        return replace(reply, answer="", tool_name=STRUCTURED_OUTPUT_TOOL, tool_input=document)

    def _send_error(self, handler: _Handler, reply: Reply) -> None:
        kind = reply.error_type or _ANTHROPIC_ERROR_TYPES.get(reply.status, "api_error")
        payload = {"type": "error", "error": {"type": kind, "message": reply.message}, "request_id": "req_fake"}
        handler.send_json(reply.status, payload, {"request-id": "req_fake", **reply.headers})

    def _blocks(self, reply: Reply) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if reply.answer:
            blocks.append({"type": "text", "text": reply.answer})
        if reply.tool_name:
            tool_id = f"toolu_fake{self._next_id():04d}"
            blocks.append({"type": "tool_use", "id": tool_id, "name": reply.tool_name, "input": reply.tool_input})
        return blocks

    def _message(self, body: dict[str, Any], reply: Reply, *, streaming: bool = False) -> dict[str, Any]:
        """A whole message; when `streaming`, the empty one `message_start` carries."""
        return {
            "id": f"msg_fake{self._next_id():04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "claude-fake"),
            "content": [] if streaming else self._blocks(reply),
            "stop_reason": None if streaming else ("tool_use" if reply.tool_name else "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": reply.input_tokens,
                "output_tokens": 1 if streaming else reply.output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }

    def _events(self, body: dict[str, Any], reply: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
        """One streamed message: start, each block (start, ping, two deltas, stop), the final delta, stop."""
        yield "message_start", {"type": "message_start", "message": self._message(body, reply, streaming=True)}
        for index, block in enumerate(self._blocks(reply)):
            if block["type"] == "text":
                start, kind, key, whole = {"type": "text", "text": ""}, "text_delta", "text", block["text"]
            else:
                start, kind, key, whole = (
                    {**block, "input": {}},
                    "input_json_delta",
                    "partial_json",
                    json.dumps(block["input"]),
                )
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
            yield "ping", {"type": "ping"}
            half = len(whole) // 2
            for part in (whole[:half], whole[half:]):
                delta = {"type": kind, key: part}
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
            yield "content_block_stop", {"type": "content_block_stop", "index": index}
        stop_reason = "tool_use" if reply.tool_name else "end_turn"
        yield (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": reply.output_tokens},
            },
        )
        yield "message_stop", {"type": "message_stop"}


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class FakeOpenAI(_FakeServer):
    """The OpenAI chat completions API; `url` (ending in `/v1`) is the SDK's base URL.

    `reject_response_format` answers any request carrying `response_format` with a 400, as a server without
    structured output does; `model` is what `GET /v1/models` lists.
    """

    key_headers = ("authorization",)

    def __init__(
        self,
        script: Script = (),
        *,
        default: Reply | None = None,
        api_key: str | None = None,
        reject_response_format: bool = False,
        model: str = "local-model",
    ) -> None:
        self.reject_response_format = reject_response_format
        self.model = model
        super().__init__(script, default=default, api_key=api_key)

    @property
    def url(self) -> str:
        return f"{self.origin}/v1"

    def _serve(self, handler: _Handler, request: Recorded) -> None:
        self._record(request)
        if not self._key_ok(handler):
            self._send_error(
                handler, Reply.error(401, "Incorrect API key provided", error_type="invalid_request_error")
            )
        elif request.method == "GET" and request.path == "/v1/models":
            models = [{"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}]
            handler.send_json(200, {"object": "list", "data": models})
        elif request.method == "POST" and request.path == "/v1/chat/completions":
            if self.reject_response_format and "response_format" in request.body:
                message = "'response_format' of type 'json_schema' is not supported by this server"
                self._send_error(handler, Reply.error(400, message, error_type="invalid_request_error"))
                return
            reply = self._next_reply(request)
            self._wait(reply)
            if reply.status >= 400:
                self._send_error(handler, reply)
            else:
                handler.send_json(200, self._completion(request.body, reply))
        else:
            self._record_unknown(request)
            handler.send_json(404, {"error": {"message": f"no route {request.path}", "type": "not_found_error"}})

    def _send_error(self, handler: _Handler, reply: Reply) -> None:
        payload = {"error": {"message": reply.message, "type": reply.error_type or "server_error", "code": None}}
        handler.send_json(reply.status, payload, reply.headers)

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        completion: dict[str, Any] = {
            "id": f"chatcmpl-fake{self._next_id():04d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": reply.answer}, "finish_reason": "stop"}
            ],
        }
        if reply.with_usage:
            completion["usage"] = {
                "prompt_tokens": reply.input_tokens,
                "completion_tokens": reply.output_tokens,
                "total_tokens": reply.input_tokens + reply.output_tokens,
            }
        return completion


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server

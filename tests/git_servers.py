"""Real git repositories and servers for the source tests, as a pytest plugin (`pytest_plugins`).

- `sample`: a repository made with git (three commits on `main`, a tag, a `feature` branch), published as
  bare repositories `public.git` and `private.git` under one served root, with a `big.git` of random data
  and an `empty.git` without commits;
- `git_daemon`: `git daemon` on 127.0.0.1 serving that root over git://;
- `http_server`: smart HTTP through `git http-backend` (CGI) behind a local HTTP server that demands Basic
  auth (`x-access-token` + `TOKEN`) for `private.git` and records every Authorization header it receives;
  `leaky.git` is a careless server that answers any credentials with a 404 echoing the password;
- `old_http_server` speaks protocol v0 only, `redirecting_server` redirects to `http_server`;
- `hanging_server`: a TCP server that accepts connections and never answers;
- `git_calls`: a `git` on PATH that logs its pid and argv, then runs the real git;
- `tiny_disk`: a 512 KiB tmpfs, to fill up.

Every server listens on a free port and is stopped at the end of its test, so tests run in parallel.

PYTEST_DONT_REWRITE: the test modules import this one before pytest loads it as a plugin, and it holds
no assertion to rewrite.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

GIT = shutil.which("git") or "git"
#: A token shaped like a GitHub classic token, so `mask_secrets` patterns would recognise it too.
TOKEN = "ghp_Q7x9TestTokenValue0123456789abcdefgh"
#: The environment of the fixtures' own git commands: no config of this machine, fixed identities and dates.
GIT_ENV = {
    "PATH": os.environ["PATH"],
    "HOME": "/nonexistent",
    "LANG": "C",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}
BIG_REPO_BYTES = 2 * 1024 * 1024


def git(*args: str, cwd: Path | None = None) -> str:
    """Run the real git for a fixture; its output, stripped."""
    result = subprocess.run([GIT, *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True)
    return result.stdout.strip()


@dataclass(frozen=True)
class Sample:
    """The sample repository: its work tree, its commits, and the root its bare copies are served from."""

    work_tree: Path
    served: Path
    first: str  # tagged v1.0
    middle: str  # inside main's history, the tip of no ref
    main: str
    feature: str


def _commit(work_tree: Path, files: dict[str, str | bytes], message: str) -> str:
    for name, content in files.items():
        path = work_tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    git("add", "--all", cwd=work_tree)
    git("commit", "--quiet", "-m", message, cwd=work_tree)
    return git("rev-parse", "HEAD", cwd=work_tree)


def make_sample(root: Path) -> Sample:
    """Build the sample repository under `root` and publish it; each commit's VERSION names it."""
    work_tree = root / "sample"
    git("init", "--quiet", "-b", "main", str(work_tree))
    first = _commit(work_tree, {"VERSION": "first\n", "src/app.py": "print('hi')\n", "README.md": "# Sample\n"}, "1")
    git("tag", "-a", "v1.0", "-m", "v1.0", cwd=work_tree)
    middle = _commit(work_tree, {"VERSION": "middle\n"}, "2")
    main = _commit(work_tree, {"VERSION": "main\n", "docs/guide.md": "Guide\n"}, "3")
    git("checkout", "--quiet", "-b", "feature", first, cwd=work_tree)
    feature = _commit(work_tree, {"VERSION": "feature\n"}, "4")
    git("checkout", "--quiet", "main", cwd=work_tree)
    served = root / "served"
    for name in ("public", "private"):
        git("clone", "--quiet", "--bare", str(work_tree), str(served / f"{name}.git"))
    big = root / "big"
    git("init", "--quiet", "-b", "main", str(big))
    _commit(big, {"random.bin": os.urandom(BIG_REPO_BYTES)}, "random")
    git("clone", "--quiet", "--bare", str(big), str(served / "big.git"))
    git("init", "--quiet", "--bare", str(served / "empty.git"))
    return Sample(work_tree, served, first, middle, main, feature)


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return make_sample(tmp_path_factory.mktemp("git-sample"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


class GitDaemon:
    """`git daemon` serving every repository under `root` (its process group is killed on close)."""

    def __init__(self, root: Path) -> None:
        for _ in range(5):  # another test may take the free port between probe and bind
            self.port = _free_port()
            self._process = subprocess.Popen(
                [
                    GIT,
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--informative-errors",
                    f"--base-path={root}",
                    "--listen=127.0.0.1",
                    f"--port={self.port}",
                ],
                env=GIT_ENV,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            deadline = time.monotonic() + 10
            while self._process.poll() is None and time.monotonic() < deadline:
                if _accepts(self.port):
                    return
                time.sleep(0.02)
            self.close()
        raise RuntimeError("git daemon did not start")

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        self._process.wait()


@pytest.fixture
def git_daemon(sample: Sample) -> Iterator[GitDaemon]:
    daemon = GitDaemon(sample.served)
    yield daemon
    daemon.close()


class _SmartHttp(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, *, protected: frozenset[str], protocol_v2: bool, redirect_to: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _CgiHandler)
        self.root = root
        self.protected = protected
        self.protocol_v2 = protocol_v2
        self.redirect_to = redirect_to
        self.expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        self.authorizations: list[str] = []


class _CgiHandler(BaseHTTPRequestHandler):
    """Runs `git http-backend` for each request, as a web server would run the CGI."""

    server: _SmartHttp

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read what they need from the server's records."""

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        authorization = self.headers.get("Authorization")
        if authorization is not None:
            self.server.authorizations.append(authorization)
        if self.server.redirect_to is not None:
            self._reply(302, b"", {"Location": self.server.redirect_to + self.path})
            return
        repository = path.lstrip("/").split("/", 1)[0]
        if repository == "leaky.git" and authorization is not None:
            password = base64.b64decode(authorization.removeprefix("Basic ")).decode().partition(":")[2]
            self._reply(404, f"Repository not found, and your password is {password}\n".encode())
            return
        if repository in self.server.protected and authorization != self.server.expected:
            self._reply(401, b"", {"WWW-Authenticate": 'Basic realm="git"'})
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            **GIT_ENV,
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),  # http-backend inflates gzip
            "REMOTE_ADDR": self.client_address[0],
        }
        if self.server.protocol_v2 and self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        output = subprocess.run([GIT, "http-backend"], input=body, env=env, capture_output=True, check=True).stdout
        head, _, payload = re.split(rb"(\r?\n\r?\n)", output, maxsplit=1)
        headers = [line.split(":", 1) for line in head.decode().splitlines() if ":" in line]
        status = next((int(value.split()[0]) for name, value in headers if name.lower() == "status"), 200)
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "status":
                self.send_header(name, value.strip())
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "text/plain", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SmartHttpServer:
    """Smart HTTP for the served root; `private.git` needs the token, `leaky.git` echoes any password.

    `protocol_v2=False` makes an old server, which speaks protocol v0 only; `redirect_to` one that sends
    every request there instead.
    """

    def __init__(self, root: Path, *, protocol_v2: bool = True, redirect_to: str | None = None) -> None:
        protected = frozenset({"private.git", "leaky.git"})
        self._server = _SmartHttp(root, protected=protected, protocol_v2=protocol_v2, redirect_to=redirect_to)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def authorizations(self) -> list[str]:
        """Every Authorization header received, in order."""
        return list(self._server.authorizations)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def http_server(sample: Sample) -> Iterator[SmartHttpServer]:
    server = SmartHttpServer(sample.served)
    yield server
    server.close()


@pytest.fixture
def old_http_server(sample: Sample) -> Iterator[SmartHttpServer]:
    """A server speaking only protocol v0, which refuses to send a commit that no ref advertises."""
    server = SmartHttpServer(sample.served, protocol_v2=False)
    yield server
    server.close()


@pytest.fixture
def redirecting_server(sample: Sample, http_server: SmartHttpServer) -> Iterator[SmartHttpServer]:
    """Redirects every request to `http_server` under another host name (`localhost`)."""
    server = SmartHttpServer(sample.served, redirect_to=f"http://localhost:{http_server.port}")
    yield server
    server.close()


class HangingServer:
    """Accepts TCP connections and never says a word."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self._connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:  # closed
                return
            self._connections.append(connection)

    def close(self) -> None:
        self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join()
        for connection in self._connections:
            connection.close()


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


@dataclass
class GitCalls:
    """The git commands the code under test ran: one `PID ARGS…` line per command."""

    log: Path

    def read(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def live_processes(self) -> list[psutil.Process]:
        """Processes still alive (zombies aside) in the process group of any logged command."""
        groups = {int(line.split(" ", 1)[0]) for line in self.read()}
        alive = []
        for process in psutil.process_iter(["status"]):
            try:
                if os.getpgid(process.pid) in groups and process.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(process)
            except ProcessLookupError:
                continue
        return alive


@pytest.fixture
def git_calls(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> GitCalls:
    """Put a logging `git` first on PATH: it records `$$` (its process group, as git runs in its own
    session) and its arguments, then execs the real git."""
    bin_dir = tmp_path_factory.mktemp("git-wrapper")
    calls = GitCalls(bin_dir / "calls.log")
    wrapper = bin_dir / "git"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$$ $*" >> {shlex.quote(str(calls.log))}\nexec {shlex.quote(GIT)} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return calls


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs (root only), unmounted at the end."""
    mount_point = tmp_path / "tiny-disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)

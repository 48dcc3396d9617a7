"""Claude through the Claude Code CLI (`claude -p`), reading the checked-out repository, and nothing else.

Each call is one `claude` process in print mode: the system prompt replaces Claude Code's own, the prompt
goes on stdin, the working directory is the repository, and the report comes back as JSON lines
(`--output-format stream-json`: besides the final `result` it carries the `rate_limit_event` that says
when a usage limit resets, which the single-object `json` format leaves out).

The model may only read. The CLI is started with
- `--tools Read,Grep,Glob`: no other built-in tool exists for the model (no Bash, no Write, no Edit, no web);
- `--permission-mode dontAsk`: whatever would need a permission is refused, never prompted for;
- `--restricted`: the file tools are confined to the working directory (symlinks included), and the
  user's, project's and local settings files are ignored, so a repository's `.claude/settings.json` can
  neither grant permissions nor run hooks;
- `--safe-mode` and `--strict-mcp-config`: no CLAUDE.md, hooks, skills, plugins or MCP servers, whether
  from the repository or from the configuration directory;
- `--disable-slash-commands`, `--no-session-persistence`: a prompt is never a command, and no transcript
  of the repository is written into the credentials directory.
tests/test_providers_claude_cli.py checks the confinement on the pinned CLI: a fake API asks for the
forbidden tools and for files beyond the repository, from a repository laid out to run hooks and MCP
servers, and nothing runs, nothing is written, nothing outside is read.

The process gets a minimal environment (`environment`): PATH, a private HOME and TMPDIR that are removed
after the call, the configured `CLAUDE_CONFIG_DIR`, one credential, the base URL, the proxy variables, and
the switches that keep the CLI quiet and quick: no telemetry, update checks or other non-essential
traffic, and no retries of its own (`CLAUDE_CODE_MAX_RETRIES=0`: a bad key fails in a second rather than
after minutes of retries; retries are `fondation.providers.retry`'s). A call that outlives its timeout is
killed with its whole process group. A subscription token (`claude setup-token`) is preferred to an API
key when both are set, so the CLI does not bill the key.

A request's `max_tokens` is not handed on: the CLI sets its own output limit per turn, which its thinking
shares, and a limit sized for one answer would starve a turn that thinks first.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from fondation.domain.jobs import ErrorKind
from fondation.providers.base import Completion, ProviderError, Readiness, Request, Usage
from fondation.providers.errors import kind_for_status, masked
from fondation.providers.outgoing import prompt_with_schema, step_headers

#: The only built-in tools the model gets: it reads the repository and searches it.
READ_ONLY_TOOLS = ("Read", "Grep", "Glob")
#: Flags that keep the model to reading the working directory (see the module's docstring for each).
CONFINEMENT_FLAGS = (
    "--tools",
    ",".join(READ_ONLY_TOOLS),
    "--permission-mode",
    "dontAsk",
    "--restricted",
    "--safe-mode",
    "--strict-mcp-config",
    "--disable-slash-commands",
    "--no-session-persistence",
)
#: Set for every call: quiet (no traffic but the API's), unattended, no retries of its own.
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_MAX_RETRIES": "0",
    "LANG": "C.UTF-8",
}
#: Taken from Fondation's own environment when set: what reaching the API may need on a proxied network.
PASSTHROUGH_ENV = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
)
ASK_TIMEOUT_SECONDS = 15.0

# The CLI's own failure categories: the assistant message's `error`, and the result's finer `api_error`.
_AUTH_ERRORS = frozenset(
    {
        "authentication_failed",
        "oauth_org_not_allowed",
        "account_on_hold",
        "verification_required",
        "billing_error",
        "cloud_credential_error",
        "stored_login_refused",
        "oauth_refresh_store_refused",
        "api_key_auth_disabled",
        "org_disabled_credential",
        "invalid_credential_header",
    }
)
_TRANSIENT_ERRORS = frozenset(
    {
        "rate_limit",
        "overloaded",
        "server_error",
        "usage_limit_reached",
        "connection_failed",
        "stream_idle_timeout",
        "no_response",
        "empty_completion",
    }
)
_LOGIN_NEEDED = re.compile(r"not logged in|/login|invalid api key|oauth token|authenticat", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ClaudeCliOptions:
    """What the CLI provider takes from the settings (`fondation.providers.factory` builds it)."""

    command: str = "claude"
    config_dir: Path = Path("/srv/claude-creds")
    max_turns: int = 12
    #: Empty: the CLI's default model.
    model: str = ""
    #: A `claude setup-token` token (subscription); when set, it is the credential, not `api_key`.
    oauth_token: str | None = None
    api_key: str | None = None
    base_url: str = ""


@dataclass(slots=True)
class _Report:
    """What a run printed that matters: the final result, the failure category, a usage limit's reset."""

    result: dict[str, Any] | None = None
    error: str | None = None
    resets_at: float | None = None

    @classmethod
    def read(cls, path: Path) -> _Report:
        report = cls()
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                if event.get("type") == "result":
                    report.result = event
                elif event.get("type") == "assistant" and event.get("error"):
                    report.error = str(event["error"])
                elif event.get("type") == "rate_limit_event":
                    info = event.get("rate_limit_info") or {}
                    if info.get("status") == "rejected" and isinstance(info.get("resetsAt"), int | float):
                        report.resets_at = float(info["resetsAt"])
        return report


class ClaudeCliProvider:
    """One `claude -p` process per call, in `cwd` (the repository; an empty directory when none is given)."""

    name = "claude-cli"

    def __init__(self, options: ClaudeCliOptions, *, cwd: Path | None = None) -> None:
        self.options = options
        self.model = options.model or "default"
        self.cwd = cwd
        self._secrets = [options.oauth_token, options.api_key]

    def complete(self, request: Request) -> Completion:
        command = self._command()
        if self.cwd is not None and not self.cwd.is_dir():
            raise ProviderError(ErrorKind.PERMANENT, f"claude: working directory {self.cwd} does not exist")
        with tempfile.TemporaryDirectory(prefix="fondation-claude-") as scratch_name:
            scratch = Path(scratch_name)
            (scratch / "home").mkdir()
            (scratch / "empty").mkdir()
            out_path, err_path = scratch / "stdout.jsonl", scratch / "stderr.txt"
            with out_path.open("wb") as out, err_path.open("wb") as err:
                returncode = self._run(command, request, scratch, out, err)
            report = _Report.read(out_path)
            stderr = err_path.read_text(encoding="utf-8", errors="replace")[-2000:].strip()
        if report.result is None:
            detail = masked(stderr or f"exit status {returncode}", self._secrets)
            kind = ErrorKind.AUTH if _LOGIN_NEEDED.search(detail) else ErrorKind.PERMANENT
            raise ProviderError(kind, f"claude: no result ({detail})")
        if report.result.get("is_error") or report.result.get("subtype") != "success":
            raise self._failure(report)
        return self._completion(report.result, request)

    def check_ready(self) -> Readiness:
        """The command runs, the CLI itself says it is signed in (`claude auth status`), and the state dir is
        writable unless the credential comes from the environment."""
        try:
            command = self._command()
        except ProviderError as exc:
            return Readiness(False, exc.message)
        problem = self._config_dir_problem()
        if problem:
            return Readiness(False, problem)
        try:
            version = self._ask(command, "--version")
            auth = self._ask(command, "auth", "status")
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Readiness(False, masked(f"`{command}` does not run: {exc}", self._secrets))
        if version.returncode != 0:
            detail = masked((version.stderr or version.stdout).strip()[-300:], self._secrets)
            return Readiness(False, f"`{command} --version` exited with {version.returncode}: {detail}")
        try:
            status = json.loads(auth.stdout)
        except ValueError:
            status = {}
        if not isinstance(status, dict) or not status.get("loggedIn"):
            return Readiness(
                False,
                f"Claude Code is not signed in: set FONDATION_CLAUDE_OAUTH_TOKEN (from `claude setup-token`), "
                f"or sign in with `CLAUDE_CONFIG_DIR={self.options.config_dir} claude auth login`, "
                "or set FONDATION_ANTHROPIC_API_KEY",
            )
        return Readiness(True, f"{version.stdout.strip()} at {command}, signed in ({status.get('authMethod')})")

    def command_line(self, command: str, request: Request) -> list[str]:
        """The CLI's arguments for one call (the prompt itself goes on stdin)."""
        argv = [command, "-p", "--output-format", "stream-json", "--verbose", *CONFINEMENT_FLAGS]
        argv += ["--max-turns", str(self.options.max_turns), "--system-prompt", request.system]
        if self.options.model:
            argv += ["--model", self.options.model]
        if request.json_schema is not None:
            argv += ["--json-schema", json.dumps(request.json_schema)]
        return argv

    def environment(self, home: Path, request: Request | None = None) -> dict[str, str]:
        """The whole environment of the CLI: nothing of Fondation's own beyond what the CLI needs.

        `home` is a private directory, removed after the call, for HOME and TMPDIR.
        """
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(home),
            "TMPDIR": str(home),
            "CLAUDE_CONFIG_DIR": os.path.abspath(self.options.config_dir),
            **QUIET_ENV,
        }
        env.update({name: os.environ[name] for name in PASSTHROUGH_ENV if os.environ.get(name)})
        if self.options.oauth_token:
            env["CLAUDE_CODE_OAUTH_TOKEN"] = self.options.oauth_token
        elif self.options.api_key:
            env["ANTHROPIC_API_KEY"] = self.options.api_key
        if self.options.base_url:
            env["ANTHROPIC_BASE_URL"] = self.options.base_url
        if request is not None:
            env["ANTHROPIC_CUSTOM_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in step_headers(request).items())
        return env

    def _command(self) -> str:
        found = shutil.which(self.options.command)
        if found is None:
            raise ProviderError(
                ErrorKind.PERMANENT,
                f"claude: command {self.options.command!r} not found: install Claude Code "
                "(npm install -g @anthropic-ai/claude-code) or set FONDATION_CLAUDE_COMMAND to its path",
            )
        return os.path.abspath(found)

    def _run(self, command: str, request: Request, scratch: Path, out: BinaryIO, err: BinaryIO) -> int:
        """Start the CLI in its own process group and wait for it; past the timeout, kill the whole group."""
        try:
            process = subprocess.Popen(
                self.command_line(command, request),
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                cwd=self.cwd or scratch / "empty",
                env=self.environment(scratch / "home", request),
                start_new_session=True,
            )
        except OSError as exc:
            raise ProviderError(ErrorKind.PERMANENT, f"claude: cannot start {command}: {exc}") from None
        try:
            process.communicate(prompt_with_schema(request).encode("utf-8"), timeout=request.timeout_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise ProviderError(
                ErrorKind.TRANSIENT, f"claude: no answer within {request.timeout_seconds:g} s (stopped)"
            ) from None
        except BaseException:
            _kill_group(process)
            raise
        return process.returncode

    def _failure(self, report: _Report) -> ProviderError:
        """Classify a failed run from the API status the CLI saw, its own category, or its words."""
        result = report.result or {}
        status = result.get("api_error_status")
        category = {report.error, result.get("api_error")} - {None}
        words = str(result.get("result") or "; ".join(map(str, result.get("errors") or [])) or result.get("subtype"))
        if isinstance(status, int):
            kind = kind_for_status(status)
        elif category & _AUTH_ERRORS or _LOGIN_NEEDED.search(words):
            kind = ErrorKind.AUTH
        elif category & _TRANSIENT_ERRORS:
            kind = ErrorKind.TRANSIENT
        else:
            kind = ErrorKind.PERMANENT
        if result.get("subtype") == "error_max_turns":
            words = f"{words}: raise FONDATION_CLAUDE_MAX_TURNS (now {self.options.max_turns}) or narrow the prompt"
        retry_after = max(0.0, report.resets_at - time.time()) if report.resets_at is not None else None
        shown = f" (HTTP {status})" if isinstance(status, int) else ""
        return ProviderError(kind, masked(f"claude{shown}: {words}", self._secrets), retry_after=retry_after)

    def _completion(self, result: dict[str, Any], request: Request) -> Completion:
        usage = result.get("usage") or {}
        input_tokens = sum(
            int(usage.get(key) or 0)
            for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        output_tokens = int(usage.get("output_tokens") or 0)
        structured = result.get("structured_output")
        if request.json_schema is not None and structured is not None:
            text = json.dumps(structured, ensure_ascii=False)
        else:
            text = str(result.get("result") or "")
        by_model = result.get("modelUsage") or {}
        model = max(by_model, key=lambda name: by_model[name].get("outputTokens") or 0, default=self.model)
        cost = round(float(result.get("total_cost_usd") or 0.0), 6)
        return Completion(text, Usage(input_tokens, output_tokens, cost), model)

    def _ask(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A quick local question to the CLI (version, sign-in status), in the same environment as a call."""
        with tempfile.TemporaryDirectory(prefix="fondation-claude-") as home:
            return subprocess.run(
                [command, *args],
                env=self.environment(Path(home)),
                cwd=home,
                capture_output=True,
                text=True,
                timeout=ASK_TIMEOUT_SECONDS,
                check=False,
            )

    def _config_dir_problem(self) -> str | None:
        """A read-only credentials folder is fine when the credential comes from the environment (a
        token or an API key: workers mount the folder read-only); a login kept in the folder must be
        able to refresh itself there."""
        if self.options.oauth_token or self.options.api_key:
            return None
        existing = self.options.config_dir
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not os.access(existing, os.W_OK):
            return (
                f"{self.options.config_dir} is not writable, and the CLI keeps its state "
                "there (FONDATION_CLAUDE_CONFIG_DIR)"
            )
        return None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the CLI and everything it started (its own process group), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()

"""How a job body is plugged in: a handler is a function `run(context) -> result dict | None`.

The handler runs inside the job's child process. It reports progress through its context and ends
by returning a result (the job succeeds), raising `JobFailure` with an error kind (the queue decides
retry or dead), or raising anything else (a transient failure). Which handler runs is named by the
`FONDATION_JOB_HANDLER` setting as `module:function`; the default is the course generator's entry
point. Tests point it at their own handlers (sleep, crash, hog memory) — that is its purpose, it is
not a production extension mechanism.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from fondation.domain.jobs import ErrorKind


class JobFailure(Exception):
    """Raised by a handler to end the attempt with a specific error kind and a user-facing message."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class JobContext(Protocol):
    """What a handler sees of its job."""

    job_id: int
    attempt: int
    source: str
    ref: str | None
    options: dict[str, Any]
    work_dir: Path

    def progress(
        self,
        phase: str,
        *,
        step: int | None = None,
        total_steps: int | None = None,
        message: str | None = None,
        percent: float | None = None,
        details: dict[str, int | float] | None = None,
    ) -> None: ...

    def checkpoint(self, step: str, key: str, data: Any) -> None:
        """Store a step's validated output with the job (under the lease, like every job write)."""

    def usage(self, provider: str, model: str, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        """Report one LLM call's tokens and cost (the worker counts them in its metrics)."""


Handler = Callable[[JobContext], dict[str, Any] | None]


def load_handler(path: str) -> Handler:
    """Import `module:function`; a clear error when it does not name a callable."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"job handler {path!r} must be written module:function")
    handler = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(handler):
        raise ValueError(f"job handler {path!r} is not a function")
    return handler  # type: ignore[no-any-return]

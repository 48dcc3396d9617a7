"""Entry point of a job's child process: `python -m fondation.worker.child MESSAGE_FD PARENT_PID`.

Kept light on purpose (no database, no SQLAlchemy): starting a child is on every job's path.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fondation.domain.secrets import mask_secrets
from fondation.worker.handlers import JobFailure, load_handler
from fondation.worker.protocol import JobSpec, encode

_PR_SET_PDEATHSIG = 1


@dataclass
class ChildContext:
    """The `JobContext` a handler gets: its job's facts, and a progress channel to the parent."""

    job_id: int
    attempt: int
    source: str
    ref: str | None
    options: dict[str, Any]
    work_dir: Path
    channel: BinaryIO = field(repr=False)

    def progress(
        self,
        phase: str,
        *,
        step: int | None = None,
        total_steps: int | None = None,
        message: str | None = None,
        percent: float | None = None,
        details: dict[str, int | float] | None = None,
    ) -> None:
        self.send(
            "progress",
            phase=phase,
            step=step,
            total_steps=total_steps,
            message=message,
            percent=percent,
            details=details or {},
        )

    def checkpoint(self, step: str, key: str, data: Any) -> None:
        self.send("checkpoint", step=step, key=key, data=data)

    def usage(self, provider: str, model: str, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        self.send(
            "usage",
            provider=provider,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd,
        )

    def send(self, message_type: str, **payload: Any) -> None:
        self.channel.write(encode(message_type, **payload))
        self.channel.flush()


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its worker dies, even by SIGKILL.

    The child runs in its own session, so nothing else would stop it: a job orphaned by a killed
    worker would run on unsupervised beside the attempt that replaces it.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the worker's death is then noticed at the next write
        return
    if os.getppid() != parent_pid:  # the worker died before the request took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    _die_with_parent(int(argv[2]))
    channel = os.fdopen(int(argv[1]), "wb", buffering=0)
    spec = JobSpec.from_json(sys.stdin.read())
    context = ChildContext(
        job_id=spec.job_id,
        attempt=spec.attempt,
        source=spec.source,
        ref=spec.ref,
        options=spec.options,
        work_dir=Path(spec.work_dir),
        channel=channel,
    )
    try:
        result = load_handler(spec.handler)(context)
    except JobFailure as failure:
        context.send("error", kind=failure.kind.value, message=mask_secrets(failure.message))
        return 0
    except Exception as error:  # any other failure is transient: the queue retries it
        traceback.print_exc(file=sys.stderr)
        context.send("error", kind="transient", message=mask_secrets(f"{type(error).__name__}: {error}"))
        return 1
    context.send("result", result=result or {})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

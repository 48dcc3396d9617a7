"""Job bodies for worker tests, run inside real child processes via FONDATION_JOB_HANDLER.

Each reads what to do from the job's options, so one worker process can run every scenario.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Any

from fondation.domain.jobs import ErrorKind
from fondation.worker.handlers import JobContext, JobFailure


def run(context: JobContext) -> dict[str, Any] | None:
    """Dispatch on `options["do"]`: succeed, sleep, crash, segfault, hog, fail, ignore_term.

    `sleep` takes `seconds`, and optionally `first_seconds` for attempt 1 only.
    """
    options = context.options
    action = options.get("do", "succeed")
    marker = options.get("marker")
    if marker:  # lets a test see which attempts really ran, and where
        with Path(marker).open("a") as out:
            out.write(f"{context.job_id} {context.attempt} {os.getpid()} {context.work_dir}\n")
    (context.work_dir / "scratch.txt").write_text("work in progress")
    if action == "succeed":
        context.progress("working", step=1, total_steps=1, message="done", percent=100.0)
        return {"ok": True, "attempt": context.attempt}
    if action == "sleep":
        seconds = float(options.get("seconds", 1.0))
        if context.attempt == 1 and "first_seconds" in options:  # keeps a first attempt running past later ones
            seconds = float(options["first_seconds"])
        deadline = time.monotonic() + seconds
        step = 0
        while time.monotonic() < deadline:
            step += 1
            context.progress("sleeping", message=f"tick {step}", percent=min(99.0, step))
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
        return {"slept": seconds}
    if action == "busy":  # CPU-bound: must not starve the parent's heartbeats
        deadline = time.monotonic() + float(options.get("seconds", 1.0))
        while time.monotonic() < deadline:
            pass
        return {"busy": True}
    if action == "crash":
        os._exit(3)
    if action == "segfault":
        ctypes.string_at(0)
    if action == "hog":
        hoard = []
        while True:
            hoard.append(bytearray(50 * 1024 * 1024))
            time.sleep(0.05)
    if action == "fail":
        raise JobFailure(ErrorKind(options.get("kind", "permanent")), options.get("message", "failed on purpose"))
    if action == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(float(options.get("seconds", 60)))
        return {"ignored": True}
    raise ValueError(f"unknown action {action!r}")


def slow_course(context: JobContext) -> dict[str, Any]:
    """The real course job, slowed at every progress report so a test can kill it mid-way.

    The delay comes from FONDATION_TEST_PROGRESS_DELAY (seconds) in the worker's environment.
    """
    from fondation.worker.course_job import run as run_course

    delay = float(os.environ.get("FONDATION_TEST_PROGRESS_DELAY", "0.3"))
    report = context.progress

    def slow_progress(*args: Any, **kwargs: Any) -> None:
        report(*args, **kwargs)
        time.sleep(delay)

    context.progress = slow_progress  # type: ignore[method-assign]
    return run_course(context)

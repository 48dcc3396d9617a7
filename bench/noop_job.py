"""The worker benchmark's job body: does nothing, so that a job's time is the worker's overhead alone.

Run inside each job's child process through `FONDATION_JOB_HANDLER=bench.noop_job:run`.
"""

from __future__ import annotations

from typing import Any

from fondation.worker.handlers import JobContext


def run(context: JobContext) -> dict[str, Any]:
    """Succeed at once with an empty result."""
    return {}

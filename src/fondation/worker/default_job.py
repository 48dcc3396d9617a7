"""The default job body until the course generator lands: refuse clearly instead of pretending."""

from __future__ import annotations

from typing import Any

from fondation.domain.jobs import ErrorKind
from fondation.worker.handlers import JobContext, JobFailure


def run(context: JobContext) -> dict[str, Any] | None:
    raise JobFailure(
        ErrorKind.PERMANENT,
        "this Fondation build has no course generator yet: the worker ran the job but had nothing to generate with",
    )

"""The course generation as a job: the default handler a worker's child runs, and its hand-back.

The child generates the course and writes it to one JSON file in the attempt's directory; the
worker (the parent, which holds the lease) reads it back and stores it with the job's completion in
one transaction. The course never travels through the progress pipe, and the child never writes to
the database: only the lease holder does.

Imports of the generator stay inside `run`: the worker parent imports this module for
`load_course_file`, and must not pay for every tree-sitter grammar.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fondation.domain.courses import NewCourse, NewDocument
from fondation.domain.errors import ClassifiedError, InvalidSourceError
from fondation.domain.jobs import ErrorKind
from fondation.worker.handlers import JobContext, JobFailure

#: The result key naming the file that holds the generated course (removed before the result is stored).
COURSE_FILE_KEY = "course_file"
_COURSE_FILE = "course.json"
#: The step outputs the worker hands to the child for reuse, keyed by content key.
_CHECKPOINTS_FILE = "checkpoints.json"


def run(context: JobContext) -> dict[str, Any]:
    """Generate the job's course; a classified failure becomes the job's error kind."""
    from fondation.config import load_settings
    from fondation.pipeline.model import GenerationOptions
    from fondation.pipeline.run import run_generation
    from fondation.pipeline.steps import StepCache
    from fondation.sources.acquire import parse_configured

    settings = load_settings()
    try:
        options = GenerationOptions(**context.options)
        spec = parse_configured(context.source, settings)
    except (TypeError, ValueError, InvalidSourceError) as error:
        raise JobFailure(ErrorKind.PERMANENT, f"invalid job: {error}") from None

    spent = {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}

    def progress(step: Any) -> None:
        details = dict(spent) if options.provider != "offline" else {}
        if step.chapter is not None:
            details.update(chapter=step.chapter, chapters=step.chapters or 0)
        context.progress(
            step.phase,
            step=step.step,
            total_steps=step.total_steps,
            message=step.message,
            percent=step.percent,
            details=details,
        )

    def usage(provider: str, model: str, used: Any) -> None:
        spent["input_tokens"] += used.input_tokens
        spent["output_tokens"] += used.output_tokens
        spent["cost_usd"] = round(spent["cost_usd"] + used.cost_usd, 6)
        context.usage(provider, model, used.input_tokens, used.output_tokens, used.cost_usd)

    try:
        generation = run_generation(
            spec,
            ref=context.ref,
            options=options,
            settings=settings,
            work_dir=context.work_dir / "source",
            progress=progress,
            cache=StepCache(known=_read_checkpoints(context.work_dir), checkpoint=context.checkpoint),
            on_usage=usage,
        )
    except ClassifiedError as error:
        raise JobFailure(error.kind, error.message) from None
    course_file = context.work_dir / _COURSE_FILE
    course_file.write_text(json.dumps(asdict(generation.stored), ensure_ascii=False), encoding="utf-8")
    return {
        COURSE_FILE_KEY: str(course_file),
        "commit": generation.commit,
        "chapters": len(generation.course.chapters()),
        "quality": generation.course.headline_quality(),
        **({"usage": generation.course.quality["usage"]} if "usage" in generation.course.quality else {}),
    }


def load_course_file(path: Path, work_dir: Path) -> NewCourse:
    """Read back the course a child wrote; refuses a file outside the attempt's directory."""
    if not path.resolve().is_relative_to(work_dir.resolve()):
        raise ValueError(f"{path} is outside the job's directory")
    data = json.loads(path.read_text(encoding="utf-8"))
    documents = tuple(NewDocument(**document) for document in data.pop("documents"))
    return NewCourse(**data, documents=documents)


def write_checkpoints_file(work_dir: Path, known: dict[str, Any]) -> None:
    """Hand reusable step outputs to the child (called by the worker before the child starts)."""
    (work_dir / _CHECKPOINTS_FILE).write_text(json.dumps(known, ensure_ascii=False), encoding="utf-8")


def _read_checkpoints(work_dir: Path) -> dict[str, Any]:
    """What the worker handed over; an unreadable file only means nothing is reused."""
    try:
        known = json.loads((work_dir / _CHECKPOINTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}

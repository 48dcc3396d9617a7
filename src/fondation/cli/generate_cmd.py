"""`fondation generate`: one course generation in the foreground, recorded in the database like any job.

The command is its own worker for one job: it creates the job already claimed (so no other worker
can take it), keeps its lease alive from a separate thread while the pipeline runs, reports progress
through the job's fields, and ends it exactly as a worker would — the course stored with the job's
completion, or the failure recorded with its error kind.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn

from fondation.cli.common import RefOption, SourceArgument, cli_actor, open_queue
from fondation.cli.generation_args import (
    BudgetOption,
    LanguageOption,
    MaxChaptersOption,
    MaxTokensOption,
    ModelOption,
    ParallelOption,
    ProviderOption,
    generation_options,
)
from fondation.cli.output import console, say
from fondation.config import Settings, load_settings
from fondation.domain.errors import ClassifiedError, ConfigError, FondationError
from fondation.domain.jobs import ErrorKind, Lease
from fondation.domain.jobs import Progress as JobProgress
from fondation.domain.secrets import mask_secrets
from fondation.sources import validate_ref
from fondation.sources.acquire import parse_configured

if TYPE_CHECKING:
    from fondation.pipeline.generate import StepProgress
    from fondation.queue import JobQueue

FORMATS = ("md", "html", "zip")


class _Canceled(FondationError):
    """The job was canceled from elsewhere (`fondation jobs cancel`) while this command ran it."""


def generate(
    source: SourceArgument,
    out: Annotated[Path | None, typer.Option(help="Where to write the course (default: ./course-<name>).")] = None,
    language: LanguageOption = "en",
    max_chapters: MaxChaptersOption = 10,
    output_format: Annotated[
        str, typer.Option("--format", help="Comma-separated outputs: md (always written), html, zip.")
    ] = "md",
    ref: RefOption = None,
    provider: ProviderOption = None,
    model: ModelOption = None,
    parallel: ParallelOption = None,
    budget_usd: BudgetOption = None,
    max_tokens: MaxTokensOption = None,
) -> None:
    """Generate the course of SOURCE now, show its progress, and write it to a folder."""
    # Imported here: the generator loads every grammar, which other commands never need.
    from fondation.pipeline.artifacts import check_course_target

    settings = load_settings()
    formats = _formats(output_format)
    options = generation_options(
        settings,
        language=language,
        max_chapters=max_chapters,
        provider=provider,
        model=model,
        parallel=parallel,
        budget_usd=budget_usd,
        max_tokens=max_tokens,
    )
    spec = parse_configured(source, settings)
    checked_ref = None if ref is None else validate_ref(ref)
    target = (out or Path(f"course-{spec.name}")).resolve()
    check_course_target(target)  # before any work: a refused folder should not cost a generation
    with open_queue(settings) as queue:
        worker_id = f"generate@{socket.gethostname()}:{os.getpid()}"
        job = queue.enqueue(
            spec,
            ref=checked_ref,
            options=options.to_dict(),
            actor=cli_actor(),
            max_attempts=1,  # run in the foreground: a failure is reported here, not retried by a worker later
            claim_as=worker_id,
            lease_seconds=settings.lease_seconds,
        ).job
        say(f"job {job.id}: generating the course of {spec.canonical}" + (f" at {checked_ref}" if checked_ref else ""))
        summary = _run(queue, Lease(job), settings, spec, checked_ref, options, target, formats)
    _print_summary(summary, target, formats)


def _formats(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [part for part in chosen if part not in FORMATS]
    if unknown or not chosen:
        raise ConfigError(f"--format takes a comma-separated list of {', '.join(FORMATS)}, got {text!r}")
    return chosen


def _run(
    queue: JobQueue,
    lease: Lease,
    settings: Settings,
    spec: Any,
    ref: str | None,
    options: Any,
    target: Path,
    formats: tuple[str, ...],
) -> dict[str, Any]:
    from fondation.pipeline.artifacts import write_course
    from fondation.pipeline.exports import export_formats
    from fondation.pipeline.run import run_generation
    from fondation.pipeline.steps import StepCache

    canceled = threading.Event()
    stop = threading.Event()
    keeper = threading.Thread(target=_keep_lease, args=(queue, lease, settings, stop, canceled), daemon=True)
    keeper.start()
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      console=console, transient=True) as bar:  # fmt: skip
            task = bar.add_task("starting", total=100)

            def progress(step: StepProgress) -> None:
                if canceled.is_set():
                    raise _Canceled(f"job {lease.job_id} was canceled")
                bar.update(task, description=step.message, completed=step.percent)
                queue.progress(
                    lease,
                    JobProgress(step.phase, step.step, step.total_steps, step.message, step.percent),
                    actor=None,
                )

            settings.temp_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="generate-", dir=settings.temp_dir) as work:
                generation = run_generation(
                    spec,
                    ref=ref,
                    options=options,
                    settings=settings,
                    work_dir=Path(work),
                    progress=progress,
                    cache=StepCache(
                        known=queue.reusable_checkpoints(lease.job_id),
                        checkpoint=lambda step, key, data: queue.checkpoint(lease, step, key, data),
                    ),
                )
        write_course(generation.stored.documents, target)
        exported = export_formats(target, formats, title=generation.course.title, language=options.language)
        summary = {
            "course_dir": str(target),
            "commit": generation.commit,
            "chapters": len(generation.course.chapters()),
            "quality": generation.course.headline_quality(),
            "exports": {name: str(path) for name, path in exported.items()},
        }
        if "usage" in generation.course.quality:
            summary["usage"] = generation.course.quality["usage"]
        stop.set()
        keeper.join()
        queue.complete(lease, summary, course=generation.stored)
        return summary
    except BaseException as error:
        stop.set()
        kind, message = _failure(error)
        queue.fail(lease, kind, message)
        if isinstance(error, FondationError | KeyboardInterrupt):
            raise
        raise FondationError(f"generation failed: {message}") from error
    finally:
        stop.set()


def _failure(error: BaseException) -> tuple[ErrorKind, str]:
    """How a foreground generation that stopped is recorded on its job."""
    if isinstance(error, _Canceled):
        return ErrorKind.CANCELED, "canceled by request"
    if isinstance(error, KeyboardInterrupt):
        return ErrorKind.CANCELED, "interrupted at the terminal"
    if isinstance(error, ClassifiedError):
        return error.kind, error.message
    return ErrorKind.TRANSIENT, mask_secrets(f"{type(error).__name__}: {error}")


def _keep_lease(
    queue: JobQueue, lease: Lease, settings: Settings, stop: threading.Event, canceled: threading.Event
) -> None:
    """Heartbeat until told to stop; a cancel request is passed on to the pipeline through `canceled`."""
    while not stop.wait(settings.heartbeat_seconds):
        try:
            reply = queue.heartbeat(lease, lease_seconds=settings.lease_seconds)
        except FondationError:
            continue  # the next beat retries; the lease outlives several missed beats
        if reply.cancel_requested:
            canceled.set()


def _print_summary(summary: dict[str, Any], target: Path, formats: tuple[str, ...]) -> None:
    quality = summary["quality"]
    figures = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in quality.items())
    say(f"{summary['chapters']} chapters written to {target}")
    say(f"quality: {figures}")
    usage = summary.get("usage")
    if usage:
        say(
            f"{usage['provider']} {usage['model']}: {usage['calls']} calls, {usage['input_tokens']:,} tokens in, "
            f"{usage['output_tokens']:,} out, ${usage['cost_usd']:.4f}"
        )
    say(f"open {target / 'index.md'}")
    for name, path in summary["exports"].items():
        say(f"{name}: {path}")

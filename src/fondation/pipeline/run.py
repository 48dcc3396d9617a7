"""One generation from a source to a course: acquire, map, then the six steps.

This is the single entry point both faces use: `fondation generate` in the foreground and the
worker's child process for a queued job, so a course is the same whichever way it was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fondation.codemap.build import build_code_map
from fondation.codemap.model import CodeMap
from fondation.config import Settings
from fondation.domain.courses import NewCourse
from fondation.domain.sources import SourceSpec
from fondation.pipeline.artifacts import course_documents
from fondation.pipeline.generate import ProgressCallback, StepProgress, generate_course
from fondation.pipeline.llm.ledger import UsageCallback
from fondation.pipeline.model import TOTAL_STEPS, Course, GenerationOptions
from fondation.pipeline.steps import StepCache
from fondation.pipeline.workspace import Workspace
from fondation.pipeline.writers import make_writer
from fondation.sources.acquire import Checkout, SourceOptions, acquire


@dataclass(frozen=True, slots=True)
class Generation:
    course: Course
    stored: NewCourse
    commit: str | None


def fetch_and_map(
    spec: SourceSpec,
    *,
    ref: str | None,
    settings: Settings,
    work_dir: Path,
    progress: ProgressCallback | None = None,
) -> tuple[Checkout, CodeMap]:
    """Fetch `spec` into `work_dir` and build its code map, within this process's configured limits."""
    if progress is not None:
        progress(StepProgress("cloning", 0, TOTAL_STEPS, 0.0))
    checkout = acquire(spec, ref=ref, work_dir=work_dir, options=SourceOptions.from_settings(settings))
    if progress is not None:
        progress(StepProgress("mapping", 0, TOTAL_STEPS, 0.0))
    code_map = build_code_map(
        checkout.root,
        name=spec.name,
        commit=checkout.commit,
        max_file_bytes=settings.max_file_kb * 1024,
        max_files=settings.max_files,
    )
    return checkout, code_map


def run_generation(
    spec: SourceSpec,
    *,
    ref: str | None,
    options: GenerationOptions,
    settings: Settings,
    work_dir: Path,
    progress: ProgressCallback | None = None,
    cache: StepCache | None = None,
    on_usage: UsageCallback | None = None,
) -> Generation:
    """Fetch `spec` into `work_dir`, map it and generate its course; raises `ClassifiedError` on failure.

    `cache` holds the outputs already known (a retried job's, an earlier generation's) and checkpoints
    new ones; `on_usage` hears of every LLM call's tokens and cost.
    """
    checkout, code_map = fetch_and_map(spec, ref=ref, settings=settings, work_dir=work_dir, progress=progress)
    workspace = Workspace(checkout.root, code_map, spec.web_url)
    writer, ledger = make_writer(workspace, options, settings, cwd=checkout.root, on_usage=on_usage)
    course = generate_course(
        workspace, options, writer=writer, cache=cache, progress=progress, parallel=options.parallel
    )
    if ledger is not None:
        course.quality["usage"] = ledger.report()
    stored = NewCourse(
        title=course.title,
        language=course.language,
        commit_sha=checkout.commit,
        provider=options.provider,
        options=options.to_dict(),
        quality=course.quality,
        documents=course_documents(course),
    )
    return Generation(course, stored, checkout.commit)

"""The six steps, in order, over one workspace: abstractions → relationships → order → chapters →
review → tutorials, then the index and the final verification.

Knows nothing of jobs or queues: it reports progress through a callback, and each step's validated
output goes through a `StepCache`, which reuses what it knows and hands new outputs to a checkpoint
callback (a job stores them; `fondation generate` stores them with its job too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from threading import Lock
from typing import Any, TypeVar

from fondation.domain.errors import ClassifiedError
from fondation.domain.jobs import ErrorKind
from fondation.pipeline.grounding import Grounding, GroundingReport
from fondation.pipeline.index_page import index_page
from fondation.pipeline.model import TOTAL_STEPS, Course, GenerationOptions, Page, Relationships
from fondation.pipeline.offline.wording import Words
from fondation.pipeline.offline.writer import OfflineWriter
from fondation.pipeline.outline import Outline
from fondation.pipeline.steps import StepCache
from fondation.pipeline.validation import validate_abstractions, validate_order, validate_relationships
from fondation.pipeline.workspace import Workspace
from fondation.pipeline.writer import CourseWriter

T = TypeVar("T")

_CORE_MODULES = 10


@dataclass(frozen=True, slots=True)
class StepProgress:
    """Where a generation is: `phase` (a step's name), step k of 6, chapter i of n, overall percent."""

    phase: str
    step: int
    total_steps: int
    percent: float
    chapter: int | None = None
    chapters: int | None = None

    @property
    def message(self) -> str:
        where = f" (chapter {self.chapter}/{self.chapters})" if self.chapter is not None else ""
        return f"step {self.step}/{self.total_steps}: {self.phase}{where}"


ProgressCallback = Callable[[StepProgress], None]

#: Share of the whole run each step takes, for the percent shown to users (chapters dominate).
_STEP_SPAN = {1: (0, 5), 2: (5, 10), 3: (10, 12), 4: (12, 60), 5: (60, 80), 6: (80, 95)}


def generate_course(
    workspace: Workspace,
    options: GenerationOptions,
    *,
    writer: CourseWriter | None = None,
    cache: StepCache | None = None,
    progress: ProgressCallback | None = None,
    parallel: int = 1,
) -> Course:
    """Run every step and return the verified course; `ClassifiedError` when there is nothing to teach.

    `writer` plans each step (offline by default); `cache` reuses the outputs it knows and checkpoints
    the new ones; chapters, reviews and tutorials run `parallel` at a time.
    """
    writer = writer or OfflineWriter(workspace, options)
    cache = cache or StepCache()

    def report(step: int, phase: str, done: int = 0, total: int = 0) -> None:
        if progress is None:
            return
        low, high = _STEP_SPAN[step]
        percent = low + (high - low) * (done / total if total else 0)
        chapter = (done + 1 if done < total else total) if total else None
        progress(StepProgress(phase, step, TOTAL_STEPS, round(percent, 1), chapter, total or None))

    report(1, "abstractions")
    abstractions = cache.resolve(writer.abstractions())
    if not abstractions:
        raise ClassifiedError(
            ErrorKind.PERMANENT,
            f"nothing to teach in {workspace.code_map.name}: no analysable source file with public definitions "
            f"was found ({len(workspace.code_map.files)} files listed)",
        )
    validate_abstractions(abstractions, workspace.code_map)

    report(2, "relationships")
    relationships = cache.resolve(writer.relationships(abstractions))
    validate_relationships(relationships, abstractions, workspace)

    report(3, "order")
    order = cache.resolve(writer.order(abstractions, relationships))
    validate_order(order, abstractions)
    outline = Outline(abstractions, relationships, order)

    def chapter(identifier: str) -> Page:
        return cache.resolve(writer.chapter(outline, outline.by_id[identifier]))

    chapters = _in_pool(order, chapter, parallel, lambda done: report(4, "chapters", done, len(order)))

    words = Words(options.language)
    grounding = Grounding(workspace)
    expected = {path: "" for path in _course_paths(outline)}
    repairs = 0
    lock = Lock()

    def degrade(page: Page) -> Page:
        """What the grounding gate still rejects is degraded (and counted), never published as it is."""
        nonlocal repairs
        markdown, count = grounding.repair(page.markdown, page.path, words("review_note"), words("diagram_note"))
        with lock:
            repairs += count
        return Page(page.path, page.title, markdown, page.abstraction, page.kind)

    def review(page: Page) -> Page:
        findings = grounding.check({**expected, page.path: page.markdown}).findings
        return degrade(cache.resolve(writer.review(outline, page, [f"{f.check}: {f.detail}" for f in findings])))

    reviewed = _in_pool(chapters, review, parallel, lambda done: report(5, "review", done, len(chapters)))

    def tutorial(identifier: str) -> Page:
        return degrade(cache.resolve(writer.tutorial(outline, outline.by_id[identifier])))

    tutorials = _in_pool(order, tutorial, parallel, lambda done: report(6, "tutorials", done, len(order)))

    pages = [index_page(workspace, outline, options.language), *reviewed, *tutorials]
    pages, link_repairs = _repair_links(grounding, pages)
    final = grounding.check({page.path: page.markdown for page in pages})
    quality = quality_figures(final, workspace, relationships, order)
    quality["repairs"] = repairs + link_repairs
    quality["reused"] = sum(cache.reused.values())
    quality["regenerated"] = sum(cache.made.values())
    quality["fallbacks"] = sorted(cache.fallbacks, key=lambda item: (item["step"], item["reason"]))
    return Course(
        title=workspace.code_map.name,
        language=options.language,
        abstractions=abstractions,
        relationships=relationships,
        order=order,
        pages=tuple(pages),
        quality=quality,
    )


def _in_pool(items: Sequence[T], work: Callable[[T], Page], parallel: int, done: Callable[[int], None]) -> list[Page]:
    """`work` over `items`, `parallel` at a time, results in the items' order; `done` counts completions."""
    done(0)
    if parallel <= 1:
        results = []
        for count, item in enumerate(items, start=1):
            results.append(work(item))
            done(count)
        return results
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(work, item) for item in items]
        for count, _ in enumerate(as_completed(futures), start=1):
            done(count)
        return [future.result() for future in futures]


def _course_paths(outline: Outline) -> list[str]:
    """Every page the course will have, so links between them check before all are written."""
    paths = ["index.md"]
    for identifier in outline.order:
        paths += [outline.chapter_path(identifier), outline.tutorial_path(identifier)]
    return paths


def _repair_links(grounding: Grounding, pages: list[Page]) -> tuple[list[Page], int]:
    paths = {page.path for page in pages}
    repaired, total = [], 0
    for page in pages:
        markdown, count = grounding.repair_links(page.markdown, page.path, paths)
        total += count
        repaired.append(Page(page.path, page.title, markdown, page.abstraction, page.kind))
    return repaired, total


def quality_figures(
    report: GroundingReport, workspace: Workspace, relationships: Relationships | None, order: tuple[str, ...] | None
) -> dict[str, Any]:
    """The figures of `quality.json`: one ratio per check, core coverage, order inversions, counts."""
    tallies = report.tallies
    core = [entry.path for entry in workspace.ranked_files[:_CORE_MODULES]]
    figures: dict[str, Any] = {
        "path_precision": tallies["paths"].ratio,
        "anchor_validity": tallies["anchors"].ratio,
        "symbol_existence": tallies["symbols"].ratio,
        "excerpt_fidelity": tallies["excerpts"].ratio,
        "mermaid_validity": tallies["mermaid"].ratio,
        "link_integrity": tallies["links"].ratio,
        "core_coverage": round(sum(path in report.cited for path in core) / len(core), 4) if core else 1.0,
    }
    if relationships is not None and order is not None:
        figures["order_inversions"] = order_inversions(relationships, order)
    figures["checked"] = {name: {"checked": tally.checked, "passed": tally.passed} for name, tally in tallies.items()}
    figures["findings"] = [asdict(finding) for finding in report.findings[:50]]
    return figures


def order_inversions(relationships: Relationships, order: tuple[str, ...]) -> int:
    """Edges whose user comes before what it uses: chapters that lean on a later chapter."""
    position = {identifier: index for index, identifier in enumerate(order)}
    return sum(
        1
        for edge in relationships.edges
        if edge.source in position and edge.target in position and position[edge.source] < position[edge.target]
    )

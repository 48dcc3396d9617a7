"""The six steps, in order, over one workspace: abstractions → relationships → order → chapters →
review → tutorials, then the index and the final verification.

Knows nothing of jobs or queues: it reports progress through a callback and hands each step's
validated output to a `checkpoint` callback, which a job stores and `fondation generate` may ignore.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from fondation.domain.errors import ClassifiedError
from fondation.domain.jobs import ErrorKind
from fondation.pipeline.grounding import Grounding, GroundingReport
from fondation.pipeline.index_page import index_page
from fondation.pipeline.model import TOTAL_STEPS, Course, GenerationOptions, Page, Relationships
from fondation.pipeline.offline.abstractions import offline_abstractions
from fondation.pipeline.offline.chapters import offline_chapter
from fondation.pipeline.offline.relationships import offline_order, offline_relationships
from fondation.pipeline.offline.tutorials import offline_tutorial
from fondation.pipeline.offline.wording import Words
from fondation.pipeline.outline import Outline
from fondation.pipeline.validation import validate_abstractions, validate_order, validate_relationships
from fondation.pipeline.workspace import Workspace
from fondation.store.types import canonical_json

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
#: Called with (step name, content key, validated output) after each step.
CheckpointCallback = Callable[[str, str, Any], None]
#: Bumped whenever a step's output for the same inputs would change, so old checkpoints stop matching.
GENERATOR_VERSION = "offline-1"

#: Share of the whole run each step takes, for the percent shown to users (chapters dominate).
_STEP_SPAN = {1: (0, 5), 2: (5, 10), 3: (10, 12), 4: (12, 60), 5: (60, 80), 6: (80, 95)}


def generate_course(
    workspace: Workspace,
    options: GenerationOptions,
    *,
    progress: ProgressCallback | None = None,
    checkpoint: CheckpointCallback | None = None,
) -> Course:
    """Run every step and return the verified course; `ClassifiedError` when there is nothing to teach."""

    def report(step: int, phase: str, done: int = 0, total: int = 0) -> None:
        if progress is None:
            return
        low, high = _STEP_SPAN[step]
        percent = low + (high - low) * (done / total if total else 0)
        chapter = (done + 1 if done < total else total) if total else None
        progress(StepProgress(phase, step, TOTAL_STEPS, round(percent, 1), chapter, total or None))

    chain = hashlib.sha256(
        canonical_json([GENERATOR_VERSION, options.to_dict(), workspace.code_map.to_json()]).encode()
    ).hexdigest()

    def save(step: str, value: Any) -> None:
        """Hand the step's output to `checkpoint` under a key made of every input that led to it."""
        nonlocal chain
        key = hashlib.sha256(f"{chain}:{step}".encode()).hexdigest()
        if checkpoint is not None:
            checkpoint(step, key, value)
        chain = hashlib.sha256(f"{key}:{canonical_json(value)}".encode()).hexdigest()

    report(1, "abstractions")
    abstractions = offline_abstractions(workspace, options)
    if not abstractions:
        raise ClassifiedError(
            ErrorKind.PERMANENT,
            f"nothing to teach in {workspace.code_map.name}: no analysable source file with public definitions "
            f"was found ({len(workspace.code_map.files)} files listed)",
        )
    validate_abstractions(abstractions, workspace.code_map)
    save("abstractions", [asdict(item) for item in abstractions])

    report(2, "relationships")
    relationships = offline_relationships(workspace, abstractions, options)
    validate_relationships(relationships, abstractions, workspace)
    save("relationships", asdict(relationships))

    report(3, "order")
    order = offline_order(abstractions, relationships)
    validate_order(order, abstractions)
    save("order", list(order))
    outline = Outline(abstractions, relationships, order)

    chapters: list[Page] = []
    for done, identifier in enumerate(order):
        report(4, "chapters", done, len(order))
        chapters.append(offline_chapter(workspace, outline, outline.by_id[identifier], options))
    save("chapters", [asdict(page) for page in chapters])

    words = Words(options.language)
    grounding = Grounding(workspace)
    reviewed: list[Page] = []
    repairs = 0
    for done, page in enumerate(chapters):
        report(5, "review", done, len(chapters))
        markdown, count = grounding.repair(page.markdown, page.path, words("review_note"), words("diagram_note"))
        repairs += count
        reviewed.append(Page(page.path, page.title, markdown, page.abstraction, page.kind))
    save("review", [asdict(page) for page in reviewed])

    tutorials = []
    for done, identifier in enumerate(order):
        report(6, "tutorials", done, len(order))
        tutorials.append(offline_tutorial(workspace, outline, outline.by_id[identifier], options))
    save("tutorials", [asdict(page) for page in tutorials])

    pages = [index_page(workspace, outline, options.language), *reviewed, *tutorials]
    pages, link_repairs = _repair_links(grounding, pages)
    final = grounding.check({page.path: page.markdown for page in pages})
    quality = quality_figures(final, workspace, relationships, order)
    quality["repairs"] = repairs + link_repairs
    return Course(
        title=workspace.code_map.name,
        language=options.language,
        abstractions=abstractions,
        relationships=relationships,
        order=order,
        pages=tuple(pages),
        quality=quality,
    )


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

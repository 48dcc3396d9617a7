"""The offline writer: every step planned from the code map alone, deterministic and free.

It is the default provider, and the fallback of every LLM step: when a model's answer cannot be
repaired, the step's offline plan is made instead and the course records the fallback.
"""

from __future__ import annotations

from collections.abc import Callable

from fondation.pipeline.model import (
    Abstraction,
    GenerationOptions,
    Page,
    Relationships,
    decode_abstractions,
    decode_order,
    decode_page,
    decode_relationships,
    encode_abstractions,
    encode_order,
    encode_page,
    encode_relationships,
)
from fondation.pipeline.offline.abstractions import offline_abstractions
from fondation.pipeline.offline.chapters import offline_chapter
from fondation.pipeline.offline.relationships import offline_order, offline_relationships
from fondation.pipeline.offline.tutorials import offline_tutorial
from fondation.pipeline.outline import Outline
from fondation.pipeline.steps import Made, StepPlan, content_key
from fondation.pipeline.workspace import Workspace

#: Bumped whenever an offline step's output for the same inputs would change, so old checkpoints stop matching.
OFFLINE_VERSION = "offline-2"


class OfflineWriter:
    """Plans for each step, keyed by the whole code map (offline steps are cheap: no finer key is worth it)."""

    identity = OFFLINE_VERSION

    def __init__(self, workspace: Workspace, options: GenerationOptions) -> None:
        self.workspace = workspace
        self.options = options
        self._base = content_key(self.identity, options.content(), workspace.code_map_digest)

    def _key(self, step: str, *inputs: object) -> str:
        return content_key(self._base, step, *inputs)

    def abstractions(self) -> StepPlan[tuple[Abstraction, ...]]:
        return StepPlan(
            "abstractions",
            self._key("abstractions"),
            lambda: Made(offline_abstractions(self.workspace, self.options)),
            encode_abstractions,
            decode_abstractions,
        )

    def relationships(self, abstractions: tuple[Abstraction, ...]) -> StepPlan[Relationships]:
        return StepPlan(
            "relationships",
            self._key("relationships", encode_abstractions(abstractions)),
            lambda: Made(offline_relationships(self.workspace, abstractions, self.options)),
            encode_relationships,
            decode_relationships,
        )

    def order(self, abstractions: tuple[Abstraction, ...], relationships: Relationships) -> StepPlan[tuple[str, ...]]:
        return StepPlan(
            "order",
            self._key("order", encode_abstractions(abstractions), encode_relationships(relationships)),
            lambda: Made(offline_order(abstractions, relationships)),
            encode_order,
            decode_order,
        )

    def chapter(self, outline: Outline, abstraction: Abstraction) -> StepPlan[Page]:
        workspace, options = self.workspace, self.options
        return self._page(
            "chapter", outline, abstraction, lambda: offline_chapter(workspace, outline, abstraction, options)
        )

    def review(self, outline: Outline, page: Page, findings: list[str]) -> StepPlan[Page]:
        """Offline, a review has nothing to rewrite with: the grounding gate's repairs are the review."""
        return StepPlan("review", self._key("review", encode_page(page)), lambda: Made(page), encode_page, decode_page)

    def tutorial(self, outline: Outline, abstraction: Abstraction) -> StepPlan[Page]:
        return self._page(
            "tutorial",
            outline,
            abstraction,
            lambda: offline_tutorial(self.workspace, outline, abstraction, self.options),
        )

    def _page(self, step: str, outline: Outline, abstraction: Abstraction, make: Callable[[], Page]) -> StepPlan[Page]:
        key = self._key(step, encode_order(outline.order), abstraction.id)
        return StepPlan(step, key, lambda: Made(make()), encode_page, decode_page)

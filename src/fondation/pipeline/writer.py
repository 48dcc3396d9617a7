"""What writes a course: one plan per step, from the offline builder or from an LLM.

Both writers meet this protocol, so `generate_course` runs them the same way: the same order of
steps, the same validation, the same cache, the same grounding gate.
"""

from __future__ import annotations

from typing import Protocol

from fondation.pipeline.model import Abstraction, Page, Relationships
from fondation.pipeline.outline import Outline
from fondation.pipeline.steps import StepPlan


class CourseWriter(Protocol):
    #: Names the writer and its version in every content key (a changed prompt must not match old outputs).
    identity: str

    def abstractions(self) -> StepPlan[tuple[Abstraction, ...]]: ...

    def relationships(self, abstractions: tuple[Abstraction, ...]) -> StepPlan[Relationships]: ...

    def order(
        self, abstractions: tuple[Abstraction, ...], relationships: Relationships
    ) -> StepPlan[tuple[str, ...]]: ...

    def chapter(self, outline: Outline, abstraction: Abstraction) -> StepPlan[Page]: ...

    def review(self, outline: Outline, page: Page, findings: list[str]) -> StepPlan[Page]: ...

    def tutorial(self, outline: Outline, abstraction: Abstraction) -> StepPlan[Page]: ...

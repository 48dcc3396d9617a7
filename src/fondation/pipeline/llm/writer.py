"""The LLM writer: each step asks a model, with the code map as context and the offline answer as fallback.

Structured steps (abstractions, relationships, order) get JSON held to the same validation as the
offline builder's, with repair requests and then the offline answer. Prose steps (chapters, reviews,
tutorials) get markdown bodies; the code adds titles, navigation, related links and, when the model
drew none, the offline diagrams — the code, never the model, decides what a file holds and where.

Errors that no other answer can fix propagate: `auth` (the job is dead, the operator re-authenticates),
`budget`, and `transient` once its retries are spent (the job is retried, and resumes from its
checkpoints). A `permanent` provider error on one call falls back to the offline answer for that step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from fondation.domain.jobs import ErrorKind
from fondation.pipeline.llm import prompts
from fondation.pipeline.llm.context import abstraction_material, dependency_lines, repository_overview
from fondation.pipeline.llm.ledger import CHARS_PER_TOKEN, Ledger
from fondation.pipeline.llm.structured import ask_json
from fondation.pipeline.model import (
    MIN_CHAPTERS,
    Abstraction,
    GenerationOptions,
    Page,
    Relationship,
    Relationships,
    slugify,
)
from fondation.pipeline.offline.chapters import neighbourhood_diagram
from fondation.pipeline.offline.tutorials import command_for_test
from fondation.pipeline.offline.wording import Words
from fondation.pipeline.offline.writer import OfflineWriter
from fondation.pipeline.outline import Outline
from fondation.pipeline.steps import Made, StepPlan, content_key
from fondation.pipeline.validation import validate_abstractions, validate_order, validate_relationships
from fondation.pipeline.workspace import Workspace
from fondation.providers.base import Completion, Provider, ProviderError, Request
from fondation.providers.retry import call_with_retry

T = TypeVar("T")
#: A model's usable answer, or None and why not.
Answer = tuple[T | None, str]

#: A chapter's material gets half of what the overview gets: it is one abstraction, not the repository.
MATERIAL_SHARE = 0.5
_MIN_BODY_CHARS = 200


class LlmWriter:
    """Plans whose key is the prompt itself: the same question is never paid for twice."""

    def __init__(
        self,
        workspace: Workspace,
        options: GenerationOptions,
        provider: Provider,
        ledger: Ledger,
        *,
        call_timeout_seconds: float = 300.0,
        deadline: float | None = None,
        context_tokens: int = 12_000,
        max_output_tokens: int = 4096,
    ) -> None:
        self.workspace = workspace
        self.options = options
        self.provider = provider
        self.ledger = ledger
        self.offline = OfflineWriter(workspace, options)
        self.identity = f"{prompts.PROMPT_VERSION}:{provider.name}:{provider.model}"
        self.call_timeout_seconds = call_timeout_seconds
        self.deadline = deadline
        self.words = Words(options.language)
        self.overview_chars = context_tokens * CHARS_PER_TOKEN
        self.material_chars = int(self.overview_chars * MATERIAL_SHARE)
        self.max_output_tokens = max_output_tokens

    # ------------------------------------------------------------------ calls

    def _call(self, request: Request) -> Completion:
        self.ledger.authorise(request)
        deadline = self.deadline if self.deadline is not None else time.monotonic() + 3 * self.call_timeout_seconds
        completion = call_with_retry(self.provider, request, deadline=deadline)
        self.ledger.record(request.step, completion)
        return completion

    def _request(self, step: str, prompt: str, max_tokens: int) -> Request:
        return Request(
            system=prompts.SYSTEM,
            prompt=prompt,
            step=step,
            max_tokens=max_tokens,
            timeout_seconds=self.call_timeout_seconds,
        )

    def _plan(self, request: Request, ask: Callable[[Request], Answer[T]], fallback: StepPlan[T]) -> StepPlan[T]:
        """A plan keyed by the prompt; when the model gives nothing usable, the offline plan's answer stands."""

        def make() -> Made[T]:
            try:
                value, reason = ask(request)
            except ProviderError as error:
                if error.kind is not ErrorKind.PERMANENT:
                    raise
                value, reason = None, f"provider refused the request: {error.message}"
            if value is None:
                return Made(fallback.make().value, f"{request.step}: {reason}")
            return Made(value)

        key = content_key(self.identity, self.options.content(), request.step, request.system, request.prompt)
        return StepPlan(request.step, key, make, fallback.encode, fallback.decode)

    def _structured(self, parse: Callable[[Any], T]) -> Callable[[Request], Answer[T]]:
        return lambda request: ask_json(self._call, request, parse)

    # ------------------------------------------------------------------ steps 1–3

    def abstractions(self) -> StepPlan[tuple[Abstraction, ...]]:
        overview = repository_overview(self.workspace, self.overview_chars)
        high = self.options.max_chapters
        low = min(MIN_CHAPTERS, high)
        prompt = prompts.abstractions_prompt(overview, low, high, self.options.language)
        request = self._request("abstractions", prompt, self.max_output_tokens)
        return self._plan(request, self._structured(self._parse_abstractions), self.offline.abstractions())

    def _parse_abstractions(self, data: Any) -> tuple[Abstraction, ...]:
        items = data["abstractions"]
        if not isinstance(items, list) or not items:
            raise ValueError("`abstractions` must be a non-empty list")
        if len(items) > self.options.max_chapters:
            raise ValueError(f"at most {self.options.max_chapters} abstractions, got {len(items)}")
        used: set[str] = set()
        found = []
        for item in items:
            identifier = slugify(str(item.get("id") or item["name"]))
            while identifier in used:
                identifier += "-2"
            used.add(identifier)
            found.append(
                Abstraction(
                    id=identifier,
                    name=_line(item["name"], 80),
                    description=_line(item.get("description", ""), 600),
                    files=tuple(str(path) for path in item["files"]),
                    symbols=tuple(str(symbol) for symbol in item.get("symbols", ())),
                )
            )
        abstractions = tuple(found)
        validate_abstractions(abstractions, self.workspace.code_map)
        return abstractions

    def relationships(self, abstractions: tuple[Abstraction, ...]) -> StepPlan[Relationships]:
        # The abstractions and the dependency edges between them carry what this step needs; the model
        # read the repository's overview in step 1, so a short reminder of it is enough here.
        overview = repository_overview(self.workspace, self.overview_chars // 8)
        edges = dependency_lines(self.workspace, abstractions)
        prompt = prompts.relationships_prompt(overview, abstractions, edges, self.options.language)
        request = self._request("relationships", prompt, self.max_output_tokens)

        def parse(data: Any) -> Relationships:
            relationships = Relationships(
                summary=_line(data["summary"], 1200),
                edges=tuple(
                    Relationship(str(e["source"]), str(e["target"]), _line(e["label"], 80), str(e["evidence"]))
                    for e in data["relationships"]
                ),
            )
            validate_relationships(relationships, abstractions, self.workspace)
            return relationships

        return self._plan(request, self._structured(parse), self.offline.relationships(abstractions))

    def order(self, abstractions: tuple[Abstraction, ...], relationships: Relationships) -> StepPlan[tuple[str, ...]]:
        request = self._request(
            "order", prompts.order_prompt(abstractions, relationships), min(1024, self.max_output_tokens)
        )

        def parse(data: Any) -> tuple[str, ...]:
            order = tuple(str(identifier) for identifier in data["order"])
            validate_order(order, abstractions)
            return order

        return self._plan(request, self._structured(parse), self.offline.order(abstractions, relationships))

    # ------------------------------------------------------------------ steps 4–6

    def chapter(self, outline: Outline, abstraction: Abstraction) -> StepPlan[Page]:
        number = outline.number(abstraction.id)
        earlier = [
            f"{position}. {outline.by_id[identifier].name} — {outline.by_id[identifier].description}"
            for position, identifier in enumerate(outline.order[: number - 1], start=1)
        ]
        material = abstraction_material(self.workspace, abstraction, self.material_chars)
        position = f"chapter {number} of {len(outline.order)}"
        prompt = prompts.chapter_prompt(
            self.workspace.code_map.name, position, earlier, abstraction, material, self.options.language
        )
        request = self._request("chapter", prompt, self.max_output_tokens)
        fallback = self.offline.chapter(outline, abstraction)
        return self._plan(request, lambda r: self._chapter_page(r, outline, abstraction), fallback)

    def _chapter_page(self, request: Request, outline: Outline, abstraction: Abstraction) -> Answer[Page]:
        body, reason = self._body(self._call(request).text)
        if body is None:
            return None, reason
        words, path = self.words, abstraction.files[0]
        title = words("chapter", number=outline.number(abstraction.id), name=abstraction.name)
        parts = [f"# {title}", outline.navigation(abstraction.id, words, from_dir="chapters")]
        parts.append(f"**{words('where')}:** " + ", ".join(f"`{file}`" for file in abstraction.files))
        parts.append(body)
        if "```mermaid" not in body:  # every chapter draws its neighbourhood, whether the model did or not
            diagram = neighbourhood_diagram(self.workspace, path, [])
            parts += [f"## {words('diagrams')}", words("neighbourhood", name=abstraction.name)]
            parts.append(f"```mermaid\n{diagram}\n```")
        related = outline.related(abstraction.id, words, from_dir="chapters")
        if related:
            parts += [f"## {words('related')}", related]
        parts.append(outline.navigation(abstraction.id, words, from_dir="chapters", tutorial=True))
        return Page(outline.chapter_path(abstraction.id), title, "\n\n".join(parts) + "\n", abstraction.id), ""

    def review(self, outline: Outline, page: Page, findings: list[str]) -> StepPlan[Page]:
        if not findings:  # nothing to fix: no call
            return self.offline.review(outline, page, findings)
        prompt = prompts.review_prompt(page.markdown, findings, self.options.language)
        request = self._request("review", prompt, self.max_output_tokens)

        def ask(request: Request) -> Answer[Page]:
            text = self._call(request).text.strip()
            first_line = page.markdown.split("\n", 1)[0]
            if not text.startswith(first_line) or len(text) < _MIN_BODY_CHARS:
                return None, "the answer is not the chapter (it must start with the chapter's first line)"
            return Page(page.path, page.title, text + "\n", page.abstraction, page.kind), ""

        return self._plan(request, ask, self.offline.review(outline, page, findings))

    def tutorial(self, outline: Outline, abstraction: Abstraction) -> StepPlan[Page]:
        # A tutorial needs the surface, one excerpt and the tests to run, not the chapter's whole material
        # again: a quarter of it keeps those (they come first) and most of the course's input tokens.
        material = abstraction_material(self.workspace, abstraction, self.material_chars // 4)
        tests = sorted({test for path in abstraction.files for test in self.workspace.tests_of(path)})
        name = abstraction.symbols[0].rsplit("::", 1)[1].rsplit(".", 1)[-1] if abstraction.symbols else abstraction.id
        commands = [command_for_test(self.workspace, test, name) for test in tests[:3]]
        prompt = prompts.tutorial_prompt(
            self.workspace.code_map.name, abstraction, material, commands, self.options.language
        )
        request = self._request("tutorial", prompt, self.max_output_tokens)

        def ask(request: Request) -> Answer[Page]:
            body, reason = self._body(self._call(request).text)
            if body is None:
                return None, reason
            words = self.words
            title = words("tutorial", number=outline.number(abstraction.id), name=abstraction.name)
            navigation = outline.navigation(abstraction.id, words, from_dir="tutorials")
            markdown = f"# {title}\n\n{navigation}\n\n{body}\n"
            return Page(outline.tutorial_path(abstraction.id), title, markdown, abstraction.id, "tutorial"), ""

        return self._plan(request, ask, self.offline.tutorial(outline, abstraction))

    @staticmethod
    def _body(text: str) -> Answer[str]:
        """A prose answer without the title the model was told not to write; None when too short to use."""
        lines = text.strip().split("\n")
        while lines and (lines[0].startswith("# ") or not lines[0].strip()):
            lines.pop(0)
        body = "\n".join(lines).strip()
        if len(body) < _MIN_BODY_CHARS:
            return None, f"the answer is empty or too short ({len(body)} characters)"
        return body, ""


def _line(value: Any, limit: int) -> str:
    """A model's string as one line of at most `limit` characters (it is shown, not trusted)."""
    return " ".join(str(value).split())[:limit]

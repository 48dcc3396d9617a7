"""What each step of the generator produces, and the options a generation runs with.

Every step's output is plain data that the next step reads and that is stored as the step's
checkpoint; the code (never a model) turns it into files. Validation against the code map lives
beside each type, so an LLM's answer and the offline builder's are held to the same rules.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

LANGUAGES = ("en", "fr")
PROVIDER_NAMES = ("offline", "claude-cli", "anthropic", "openai")
DEFAULT_MAX_CHAPTERS = 10
MIN_CHAPTERS = 5
TOTAL_STEPS = 6
STEP_NAMES = ("abstractions", "relationships", "order", "chapters", "review", "tutorials")

_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """A file-name-safe, lower-case ASCII slug (`JobQueue.claim` → `jobqueue-claim`)."""
    ascii_text = text.encode("ascii", "ignore").decode().lower()
    return _SLUG.sub("-", ascii_text).strip("-")[:60] or "chapter"


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """What a user chooses for one generation; part of every checkpoint's key."""

    language: str = "en"
    max_chapters: int = DEFAULT_MAX_CHAPTERS
    provider: str = "offline"
    #: The model, for an LLM provider ("" = the provider's default).
    model: str = ""
    #: LLM calls at once in the chapter, review and tutorial steps.
    parallel: int = 4
    #: Spending caps for the job (0 = none): a call that would pass one ends the job with kind `budget`.
    budget_usd: float = 0.0
    max_tokens: int = 0

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {self.language!r}")
        if not 1 <= self.max_chapters <= 50:
            raise ValueError(f"max chapters must be between 1 and 50, got {self.max_chapters}")
        if self.provider not in PROVIDER_NAMES:
            raise ValueError(f"provider must be one of {', '.join(PROVIDER_NAMES)}, got {self.provider!r}")
        if not 1 <= self.parallel <= 32:
            raise ValueError(f"parallel must be between 1 and 32, got {self.parallel}")
        if self.budget_usd < 0 or self.max_tokens < 0:
            raise ValueError("budget and max tokens must not be negative (0 means no limit)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def content(self) -> dict[str, Any]:
        """The options that change what is written (not how fast or how far): part of every content key."""
        return {
            "language": self.language,
            "max_chapters": self.max_chapters,
            "provider": self.provider,
            "model": self.model,
        }


@dataclass(frozen=True, slots=True)
class Abstraction:
    """A core abstraction a newcomer must learn: where it lives (`files`) and what names it (`symbols`).

    `symbols` are `path::qualname` strings, each a symbol of the code map.
    """

    id: str
    name: str
    description: str
    files: tuple[str, ...]
    symbols: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Relationship:
    """`source` uses `target` (abstraction ids), shown as `label`; `evidence` is a `path:line` that proves it."""

    source: str
    target: str
    label: str
    evidence: str


@dataclass(frozen=True, slots=True)
class Relationships:
    summary: str
    edges: tuple[Relationship, ...]


@dataclass(frozen=True, slots=True)
class Page:
    """A markdown document of the course (`chapters/01-x.md`), with the abstraction it is about."""

    path: str
    title: str
    markdown: str
    abstraction: str | None = None
    kind: str = "chapter"


@dataclass(frozen=True, slots=True)
class Course:
    """Every page of a generated course plus its structured artifacts and quality figures."""

    title: str
    language: str
    abstractions: tuple[Abstraction, ...]
    relationships: Relationships
    order: tuple[str, ...]
    pages: tuple[Page, ...]
    quality: dict[str, Any] = field(default_factory=dict)

    def chapters(self) -> list[Page]:
        return [page for page in self.pages if page.kind == "chapter"]

    def headline_quality(self) -> dict[str, Any]:
        """The quality figures without the detail (per-check counts, findings): what a summary shows."""
        return {key: value for key, value in self.quality.items() if isinstance(value, int | float)}


# ---------------------------------------------------------------------- stored forms (checkpoints)


def encode_abstractions(abstractions: tuple[Abstraction, ...]) -> list[dict[str, Any]]:
    return [asdict(abstraction) for abstraction in abstractions]


def decode_abstractions(data: list[dict[str, Any]]) -> tuple[Abstraction, ...]:
    return tuple(
        Abstraction(
            id=item["id"],
            name=item["name"],
            description=item["description"],
            files=tuple(item["files"]),
            symbols=tuple(item.get("symbols", ())),
        )
        for item in data
    )


def encode_relationships(relationships: Relationships) -> dict[str, Any]:
    return asdict(relationships)


def decode_relationships(data: dict[str, Any]) -> Relationships:
    return Relationships(summary=data["summary"], edges=tuple(Relationship(**edge) for edge in data["edges"]))


def encode_order(order: tuple[str, ...]) -> list[str]:
    return list(order)


def decode_order(data: list[str]) -> tuple[str, ...]:
    return tuple(data)


def encode_page(page: Page) -> dict[str, Any]:
    return asdict(page)


def decode_page(data: dict[str, Any]) -> Page:
    return Page(**data)

"""The one interface every LLM provider meets: a request in, text and its usage out.

A provider knows its wire protocol (a CLI's JSON output, the Anthropic Messages API, the OpenAI
chat completions API) and nothing of the pipeline. It classifies every failure into a
`ProviderError` whose kind decides what happens next: `auth` ends the job at once (no retry can fix a
bad credential), `transient` (rate limits, overload, timeouts, a dropped connection) is retried with
backoff by `fondation.providers.retry`, `permanent` (a request the model refuses, a malformed reply)
is not retried.

Messages never carry a credential: every text built from a provider's error goes through
`mask_secrets`, and the credential itself is masked by value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from fondation.domain.errors import ClassifiedError
from fondation.domain.jobs import ErrorKind

PROVIDERS = ("offline", "claude-cli", "anthropic", "openai")


@dataclass(frozen=True, slots=True)
class Request:
    """One call: instructions (`system`), the prompt, and the limits of the answer.

    `json_schema`, when set, asks for a JSON document of that shape (the provider uses the protocol's
    structured-output feature where it has one, and says so in the prompt anyway). `step` names the
    pipeline step, for usage accounting and for test servers that script replies per step.
    """

    system: str
    prompt: str
    step: str
    max_tokens: int = 4096
    json_schema: dict[str, Any] | None = None
    timeout_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            round(self.cost_usd + other.cost_usd, 6),
        )


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    usage: Usage
    model: str


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether a provider can take calls now, and if not what to do about it (for `fondation doctor`)."""

    ready: bool
    detail: str


class ProviderError(ClassifiedError):
    """A failed call, classified; `retry_after` is the server's own wait hint, in seconds, when it gave one."""

    def __init__(self, kind: ErrorKind, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(kind, message)
        self.retry_after = retry_after


class Provider(Protocol):
    """An LLM behind one protocol; implementations are in this package, one module each."""

    name: str
    model: str

    def complete(self, request: Request) -> Completion:
        """One call; raises `ProviderError` (never anything else) when it fails."""
        ...

    def check_ready(self) -> Readiness:
        """A cheap check that a call would be accepted: credentials present, command found, server up."""
        ...


@dataclass(frozen=True, slots=True)
class Prices:
    """Dollars per million input and output tokens, per model; unknown models cost nothing (and say so)."""

    per_million: dict[str, tuple[float, float]] = field(default_factory=dict)

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        input_price, output_price = self.per_million.get(model, (0.0, 0.0))
        return round((input_tokens * input_price + output_tokens * output_price) / 1_000_000, 6)

    @classmethod
    def parse(cls, text: str) -> Prices:
        """`model=in/out,model=in/out` (dollars per million tokens), as `FONDATION_LLM_PRICES` writes it."""
        table: dict[str, tuple[float, float]] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            model, _, prices = item.partition("=")
            input_price, _, output_price = prices.partition("/")
            try:
                table[model.strip()] = (float(input_price), float(output_price))
            except ValueError:
                raise ValueError(
                    f"price {item!r} must be written model=INPUT/OUTPUT dollars per million tokens"
                ) from None
        return cls(table)


#: Published list prices (dollars per million tokens), the defaults `FONDATION_LLM_PRICES` adds to.
DEFAULT_PRICES = {
    "claude-opus-4-1": (15.0, 75.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
}

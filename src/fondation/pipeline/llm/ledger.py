"""What a generation spends on a model: tokens and dollars per step, and the caps it must stay under.

A cap is checked *before* each call, against the spent amount plus an estimate of the call (its
prompt's size at four characters a token, plus half its answer limit): a job stops with kind `budget`
rather than pass the cap, and everything made so far stays checkpointed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Lock

from fondation.domain.errors import ClassifiedError
from fondation.domain.jobs import ErrorKind
from fondation.providers.base import Completion, Prices, Request, Usage

CHARS_PER_TOKEN = 4

#: Told about every call's usage as it happens (the worker turns it into metrics).
UsageCallback = Callable[[str, str, Usage], None]


def estimated_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


@dataclass
class Ledger:
    provider: str
    model: str
    prices: Prices
    budget_usd: float = 0.0
    max_tokens: int = 0
    on_usage: UsageCallback | None = None
    by_step: dict[str, Usage] = field(default_factory=dict)
    calls: int = 0
    _lock: Lock = field(default_factory=Lock, repr=False)

    @property
    def total(self) -> Usage:
        with self._lock:
            return sum(self.by_step.values(), Usage())

    def authorise(self, request: Request) -> None:
        """Raise `budget` if this call could take the job past a cap."""
        input_tokens = estimated_tokens(request.system) + estimated_tokens(request.prompt)
        output_tokens = request.max_tokens // 2
        spent = self.total
        if (
            self.max_tokens
            and spent.input_tokens + spent.output_tokens + input_tokens + output_tokens > self.max_tokens
        ):
            raise ClassifiedError(
                ErrorKind.BUDGET,
                f"token budget reached: {spent.input_tokens + spent.output_tokens:,} tokens spent, the next call "
                f"({request.step}) needs about {input_tokens + output_tokens:,}, limit {self.max_tokens:,}",
            )
        estimate = self.prices.cost(self.model, input_tokens, output_tokens)
        if self.budget_usd and spent.cost_usd + estimate > self.budget_usd:
            raise ClassifiedError(
                ErrorKind.BUDGET,
                f"cost budget reached: ${spent.cost_usd:.4f} spent, the next call ({request.step}) may cost "
                f"${estimate:.4f}, limit ${self.budget_usd:.4f}",
            )

    def record(self, step: str, completion: Completion) -> None:
        usage = completion.usage
        if not usage.cost_usd:
            usage = Usage(
                usage.input_tokens,
                usage.output_tokens,
                self.prices.cost(completion.model or self.model, usage.input_tokens, usage.output_tokens),
            )
        with self._lock:
            self.by_step[step] = self.by_step.get(step, Usage()) + usage
            self.calls += 1
        if self.on_usage is not None:
            self.on_usage(self.provider, completion.model or self.model, usage)

    def report(self) -> dict[str, object]:
        """Usage for the quality report and the job's result: per step and in all."""
        total = self.total
        with self._lock:
            steps = {
                step: {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens, "cost_usd": u.cost_usd}
                for step, u in sorted(self.by_step.items())
            }
        return {
            "provider": self.provider,
            "model": self.model,
            "calls": self.calls,
            "input_tokens": total.input_tokens,
            "output_tokens": total.output_tokens,
            "cost_usd": total.cost_usd,
            "steps": steps,
        }

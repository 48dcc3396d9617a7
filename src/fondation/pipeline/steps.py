"""How a step's output is made or reused: a plan (its content key and how to make it) and a cache.

Every step of every writer is planned the same way: the writer names the key — a hash of everything
the output depends on (the step, the writer and its prompt version, the provider and model, the
language, the step's own inputs) — and a function that makes the output. The cache answers a key it
already knows (an earlier attempt of the same job, or an earlier generation of the same repository
whose inputs did not change) without making anything, so a retried job repeats no LLM call that
already succeeded, and a regeneration at a new commit pays only for what changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Lock
from typing import Any, Generic, TypeVar

from fondation.store.types import canonical_json

T = TypeVar("T")

#: Called with (step name, content key, stored form) each time a step's output is made.
CheckpointCallback = Callable[[str, str, Any], None]


def content_key(*parts: Any) -> str:
    """The content address of a step's output: a hash of every input, in canonical JSON."""
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Made(Generic[T]):
    """A step's output, and why the offline answer stands in for the model's when it does."""

    value: T
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class StepPlan(Generic[T]):
    step: str
    key: str
    make: Callable[[], Made[T]]
    encode: Callable[[T], Any]
    decode: Callable[[Any], T]


@dataclass
class StepCache:
    """Known outputs by key, plus the checkpoint callback that stores the new ones.

    Thread-safe: chapters, reviews and tutorials are planned and made from a pool.
    """

    known: dict[str, Any] = field(default_factory=dict)
    checkpoint: CheckpointCallback | None = None
    reused: dict[str, int] = field(default_factory=dict)
    made: dict[str, int] = field(default_factory=dict)
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    _lock: Lock = field(default_factory=Lock, repr=False)

    def resolve(self, plan: StepPlan[T]) -> T:
        """The plan's output: reused when its key is known, otherwise made and checkpointed."""
        with self._lock:
            stored = self.known.get(plan.key)
        if stored is not None:
            self._count(self.reused, plan.step, stored.get("fallback"))
            return plan.decode(stored["value"])
        made = plan.make()
        stored = {"value": plan.encode(made.value), "fallback": made.fallback}
        with self._lock:
            self.known[plan.key] = stored
        self._count(self.made, plan.step, made.fallback)
        if self.checkpoint is not None:
            self.checkpoint(plan.step, plan.key, stored)
        return made.value

    def _count(self, counter: dict[str, int], step: str, fallback: str | None) -> None:
        with self._lock:
            counter[step] = counter.get(step, 0) + 1
            if fallback:
                self.fallbacks.append({"step": step, "reason": fallback})

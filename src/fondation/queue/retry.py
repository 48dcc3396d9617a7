"""When a failed attempt runs again: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`delay(n)` after the n-th attempt is uniform in [0, min(cap, base · 2^(n-1))].

    Full jitter spreads the retries of jobs that failed together (a provider outage, a network blip)
    so they do not come back as one thundering herd.
    """

    base_seconds: float = 5.0
    cap_seconds: float = 600.0
    max_attempts: int = 5
    uniform: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def ceiling(self, attempts: int) -> float:
        """The largest delay after `attempts` attempts."""
        exponent = min(max(attempts - 1, 0), 62)
        return min(self.cap_seconds, self.base_seconds * (2**exponent))

    def delay(self, attempts: int) -> float:
        return self.uniform(0.0, self.ceiling(attempts))

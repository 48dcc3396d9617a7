"""Retries of transient provider failures, inside the job's deadline.

The providers never retry by themselves (their SDKs' and the CLI's own retries are off), so this is the one
place that decides: a `transient` failure waits an exponential backoff with full jitter, or the server's
`retry_after` when that is longer, and tries again; `auth`, `permanent` and every other kind end at once.
No wait and no call runs past the deadline: each call's timeout is cut to the time left, and when the next
wait would cross the deadline the last error is raised instead.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

from fondation.domain.jobs import ErrorKind
from fondation.logs import get_logger
from fondation.providers.base import Completion, Provider, ProviderError, Request


def backoff_seconds(attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Full jitter: a uniform wait between 0 and `base * 2**(attempt-1)`, capped at `cap`."""
    return rand() * min(cap, base * 2 ** (attempt - 1))


def call_with_retry(
    provider: Provider,
    request: Request,
    *,
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
    max_attempts: int = 6,
    base: float = 1.0,
    cap: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> Completion:
    """`provider.complete(request)`, retried on transient errors until it succeeds, or raising the last error.

    `deadline` is a `clock()` (monotonic) time; `sleep`, `clock` and `rand` are injectable for tests.
    """
    log = get_logger(provider=provider.name, step=request.step)
    attempt = 0
    while True:
        attempt += 1
        left = deadline - clock()
        if left <= 0:
            raise ProviderError(ErrorKind.DEADLINE, f"{provider.name}: no time left for the {request.step} call")
        try:
            return provider.complete(dataclasses.replace(request, timeout_seconds=min(request.timeout_seconds, left)))
        except ProviderError as exc:
            if exc.kind is not ErrorKind.TRANSIENT or attempt >= max_attempts:
                raise
            wait = max(backoff_seconds(attempt, base=base, cap=cap, rand=rand), exc.retry_after or 0.0)
            if clock() + wait >= deadline:
                raise
            log.info("llm_call_retry", attempt=attempt, wait_seconds=round(wait, 2), reason=exc.message)
            sleep(wait)

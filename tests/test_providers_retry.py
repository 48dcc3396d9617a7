"""`call_with_retry`: which failures are retried, how long it waits, and that it never runs past the deadline.

A scripted provider and a fake clock stand in for the network and for time, so every wait is checked exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from fondation.domain.jobs import ErrorKind
from fondation.providers.base import Completion, ProviderError, Readiness, Request, Usage
from fondation.providers.retry import backoff_seconds, call_with_retry

REQUEST = Request(system="You write courses.", prompt="Write.", step="overview", timeout_seconds=300.0)
DONE = Completion("done", Usage(10, 5, 0.001), "m")


class Scripted:
    """A provider that fails as scripted, then succeeds; it records the timeout of every call."""

    name = "scripted"
    model = "m"

    def __init__(self, failures: Iterable[ProviderError]) -> None:
        self.failures = list(failures)
        self.timeouts: list[float] = []

    def complete(self, request: Request) -> Completion:
        self.timeouts.append(request.timeout_seconds)
        if self.failures:
            raise self.failures.pop(0)
        return DONE

    def check_ready(self) -> Readiness:
        return Readiness(True, "scripted")


class Clock:
    """Monotonic time that only `sleep` moves."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def transient(retry_after: float | None = None) -> ProviderError:
    return ProviderError(ErrorKind.TRANSIENT, "overloaded", retry_after=retry_after)


def run(provider: Scripted, clock: Clock, *, deadline_in: float = 3600.0, **kwargs: object) -> Completion:
    return call_with_retry(
        provider, REQUEST, deadline=clock.now + deadline_in, sleep=clock.sleep, clock=clock, **kwargs
    )


def test_transient_failures_are_retried_with_exponential_full_jitter() -> None:
    provider, clock = Scripted([transient(), transient(), transient()]), Clock()
    assert run(provider, clock, rand=lambda: 1.0, base=1.0, cap=60.0) is DONE
    assert clock.sleeps == [1.0, 2.0, 4.0]
    jittered = Clock()
    run(Scripted([transient(), transient()]), jittered, rand=lambda: 0.25, base=2.0)
    assert jittered.sleeps == [0.5, 1.0]


def test_backoff_is_capped() -> None:
    assert backoff_seconds(20, base=1.0, cap=60.0, rand=lambda: 1.0) == 60.0
    assert backoff_seconds(1, base=1.0, cap=60.0, rand=lambda: 0.0) == 0.0


def test_retry_after_is_a_floor_for_the_wait() -> None:
    provider, clock = Scripted([transient(retry_after=30.0), transient(retry_after=0.1)]), Clock()
    assert run(provider, clock, rand=lambda: 1.0) is DONE
    assert clock.sleeps == [30.0, 2.0]


@pytest.mark.parametrize("kind", [ErrorKind.AUTH, ErrorKind.PERMANENT, ErrorKind.BUDGET, ErrorKind.RESOURCE])
def test_other_kinds_raise_at_once(kind: ErrorKind) -> None:
    failure = ProviderError(kind, "no")
    provider, clock = Scripted([failure]), Clock()
    with pytest.raises(ProviderError) as raised:
        run(provider, clock)
    assert raised.value is failure
    assert clock.sleeps == []
    assert len(provider.timeouts) == 1


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    failures = [transient() for _ in range(5)]
    provider, clock = Scripted(failures), Clock()
    with pytest.raises(ProviderError) as raised:
        run(provider, clock, max_attempts=3, rand=lambda: 0.5)
    assert raised.value is failures[2]
    assert len(provider.timeouts) == 3
    assert len(clock.sleeps) == 2


def test_a_wait_that_would_cross_the_deadline_raises_the_last_error_instead() -> None:
    failure = transient(retry_after=120.0)
    provider, clock = Scripted([failure]), Clock()
    with pytest.raises(ProviderError) as raised:
        run(provider, clock, deadline_in=60.0)
    assert raised.value is failure
    assert clock.sleeps == []


def test_each_call_gets_only_the_time_left() -> None:
    provider, clock = Scripted([transient(retry_after=40.0)]), Clock()
    run(provider, clock, deadline_in=100.0, rand=lambda: 0.0)
    assert provider.timeouts == [100.0, 60.0]


def test_no_call_starts_after_the_deadline() -> None:
    provider, clock = Scripted([]), Clock()
    with pytest.raises(ProviderError) as raised:
        run(provider, clock, deadline_in=0.0)
    assert raised.value.kind is ErrorKind.DEADLINE
    assert provider.timeouts == []

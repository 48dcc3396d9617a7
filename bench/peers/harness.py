"""What the systems' modules share: one measurement per process, its command line, and what it prints.

    python -m bench.peers.SYSTEM schema  --url URL
    python -m bench.peers.SYSTEM enqueue --url URL --jobs N
    python -m bench.peers.SYSTEM drain   --url URL --jobs N --concurrency C
    python -m bench.peers.SYSTEM consume --url URL --jobs N --concurrency C   (prints READY, then waits)
    python -m bench.peers.SYSTEM produce --url URL --jobs N --rate R

Each prints one line `RESULT {json}` at the end (libraries may print what they like before it), and
`consume` prints `READY` once it listens for new jobs. Nothing here imports a queue library: each
system's module brings its own, so a process holds one system only.

- **drain**: the jobs are already queued; the clock starts when the first job's handler runs and stops
  when the system's own drain call returns, every completion committed. The module counts the jobs
  its handler ran and checks the database afterwards (outside the clock): all N done, each once.
- **consume**: an idle worker, listening; it records when each job's handler starts (`time.time()`)
  and returns once N jobs have run.
- **produce**: N jobs, one at a random point of each 1/R slot (a steady trickle whose phase does not
  lock onto anybody's timers), each enqueued alone through the system's own API; it records when each
  enqueue returned, its transaction committed.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

RESULT = "RESULT "
READY = "READY"


class System(Protocol):
    """One queue under test."""

    poll_ms: int  # the worker's fallback poll interval; 0 for the system's default
    variant: str  # "" for the system as it ships

    def schema(self, url: str) -> None:
        """Install the system's tables in an empty database."""

    def enqueue(self, url: str, jobs: int) -> dict[str, Any]:
        """Queue `jobs` no-op jobs; returns {"seconds": ..., "how": ...}."""

    def drain(self, url: str, jobs: int, concurrency: int, clock: DrainClock) -> dict[str, Any]:
        """Run the queued jobs until none is left, calling `clock.started()` in the handler."""

    def verify(self, url: str, jobs: int) -> None:
        """After a drain: SystemExit unless the database shows `jobs` jobs done, each once."""

    def consume(self, url: str, jobs: int, concurrency: int, starts: Starts, ready: Callable[[], None]) -> None:
        """An idle worker: call `ready()` once listening, record each job's start, return after `jobs`."""

    def produce(self, url: str, jobs: int, rate: float) -> list[tuple[int, float]]:
        """Enqueue `jobs` one by one at `rate` per second; returns (job id, commit time) pairs."""


@dataclass
class DrainClock:
    """The drain's clock: from the first handler call to the drain's end; and the process's CPU time."""

    first: float | None = None
    cpu_first: float = 0.0
    handled: int = 0

    def started(self) -> None:
        """Called by the job's handler (no-op jobs: this is all they do)."""
        if self.first is None:
            self.first = time.perf_counter()
            self.cpu_first = _cpu()
        self.handled += 1


class Starts:
    """When each job started (job id → `time.time()`), and an event-free way to wait for N of them."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}

    def record(self, job_id: int) -> None:
        self.at.setdefault(int(job_id), time.time())

    def __len__(self) -> int:
        return len(self.at)


def trickle(jobs: int, rate: float, seed: int = 1) -> Iterator[tuple[int, float]]:
    """(index, seconds to wait) for each job: one at a random point of each 1/rate slot from now + 50 ms."""
    rng = random.Random(seed)
    start = time.time() + 0.05
    for i in range(jobs):
        yield i, start + (i + rng.random()) / rate - time.time()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(RESULT + json.dumps(result) + "\n")
    sys.stdout.flush()


def _ready() -> None:
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()


def main(system: System, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("command", choices=("schema", "enqueue", "drain", "consume", "produce"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--poll-ms", type=int, default=0, help="the worker's poll interval (0: the system's default)")
    parser.add_argument("--variant", default="", help="a variant of the system (Fondation: group-commit)")
    args = parser.parse_args(argv)
    system.poll_ms = args.poll_ms
    system.variant = args.variant
    if args.command == "schema":
        system.schema(args.url)
        emit({})
    elif args.command == "enqueue":
        emit(system.enqueue(args.url, args.jobs))
    elif args.command == "drain":
        clock = DrainClock()
        extra = system.drain(args.url, args.jobs, args.concurrency, clock)
        end, cpu_end = time.perf_counter(), _cpu()
        if clock.first is None or clock.handled != args.jobs:
            raise SystemExit(f"drain: the handler ran {clock.handled} times for {args.jobs} jobs")
        system.verify(args.url, args.jobs)
        emit({"seconds": end - clock.first, "cpu_seconds": cpu_end - clock.cpu_first, **extra})
    elif args.command == "consume":
        starts = Starts()
        system.consume(args.url, args.jobs, args.concurrency, starts, _ready)
        emit({"starts": {str(k): v for k, v in starts.at.items()}})
    else:
        emit({"commits": system.produce(args.url, args.jobs, args.rate)})
    return 0

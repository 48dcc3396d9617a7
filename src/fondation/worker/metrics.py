"""The worker's Prometheus metrics (names documented in docs/OPERATIONS.md).

Counters and the duration histogram are this worker's own; queue depth and the oldest pending age are
read from the database (shared by every worker) and cached for a few seconds so a scrape storm does
not become a query storm. Memory (the worker with its jobs, against the limit they live under) is what
deploy/prometheus/fondation-alerts.yml's "memory near its limit" needs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from threading import Lock
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fondation.domain.errors import DatabaseError
from fondation.domain.jobs import JobStatus
from fondation.queue import JobQueue

QUEUE_CACHE_SECONDS = 5.0
CGROUP_ROOT = Path("/sys/fs/cgroup")


class QueueCollector(Collector):
    """Queue depth by status and the oldest pending age, from the database, cached."""

    def __init__(self, queue: JobQueue) -> None:
        self.queue = queue
        self._lock = Lock()
        self._cached_at = -QUEUE_CACHE_SECONDS
        self._counts: dict[JobStatus, int] = {}
        self._oldest = 0.0

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._cached_at >= QUEUE_CACHE_SECONDS:
                try:
                    self._counts, self._oldest = self.queue.counts(), self.queue.oldest_ready_age()
                    self._cached_at = time.monotonic()
                except DatabaseError:
                    self._counts = {}  # unknown while the database is away: say nothing rather than lie
            depth = GaugeMetricFamily("fondation_queue_depth", "Jobs in the queue by status.", labels=["status"])
            for status, count in self._counts.items():
                depth.add_metric([status.value], count)
            yield depth
            if self._counts:
                yield GaugeMetricFamily(
                    "fondation_oldest_pending_age_seconds",
                    "Seconds the longest-waiting claimable job has waited.",
                    value=self._oldest,
                )


def tree_rss_bytes(process: psutil.Process | None = None) -> int:
    """Resident memory of a process and every process it started (a worker: its jobs, their git and CLIs)."""
    process = process or psutil.Process()
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue  # ended between the listing and the reading
    return total


def memory_limit_bytes(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> int:
    """The memory limit this process lives under: the tightest of its cgroups' (a container's limit, a systemd
    unit's MemoryMax; cgroup v2 or v1), else the machine's memory. The kernel's OOM killer acts at that limit."""
    limits = [psutil.virtual_memory().total]
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            base, name = cgroup_root, "memory.max"
        elif "memory" in controllers.split(","):
            base, name = cgroup_root / "memory", "memory.limit_in_bytes"
        else:
            continue
        # In a container the cgroup file system shows the container's own cgroup at its root, whatever the
        # path says; on a host the limit may sit on a parent slice: every ancestor is a candidate.
        relative = Path(path.lstrip("/"))
        for directory in {base / relative, *(base / parent for parent in relative.parents)}:
            try:
                value = (directory / name).read_text().strip()
            except OSError:
                continue
            if value.isdigit():
                limits.append(int(value))  # "max" (v2) means none; v1's "none" is a huge number, beaten by min()
    return min(limits)


class MemoryCollector(Collector):
    """The worker's memory with its jobs', and the limit both count against, read at each scrape."""

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "fondation_memory_bytes",
            "Resident memory of the worker and every process it started (its jobs).",
            value=tree_rss_bytes(),
        )
        yield GaugeMetricFamily(
            "fondation_memory_limit_bytes",
            "The memory limit the worker and its jobs live under: their cgroup's, else the machine's memory.",
            value=memory_limit_bytes(),
        )


class WorkerMetrics:
    """Everything /metrics exposes, on a registry of its own (several workers may share a process)."""

    def __init__(self, queue: JobQueue) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.claimed = Counter("fondation_jobs_claimed", "Jobs claimed by this worker.", registry=r)
        self.succeeded = Counter("fondation_jobs_succeeded", "Jobs this worker completed.", registry=r)
        self.failed = Counter("fondation_jobs_failed", "Attempts that failed, by error kind.", ["kind"], registry=r)
        self.dead = Counter("fondation_jobs_dead", "Jobs that ended dead on this worker.", registry=r)
        self.canceled = Counter("fondation_jobs_canceled", "Jobs canceled while on this worker.", registry=r)
        self.released = Counter("fondation_jobs_released", "Leases handed back at shutdown.", registry=r)
        self.reclaimed = Counter(
            "fondation_jobs_reclaimed", "Expired leases this worker's reaper took back.", registry=r
        )
        self.lease_lost = Counter(
            "fondation_lease_lost", "Jobs abandoned because another worker owns them.", registry=r
        )
        self.heartbeat_failures = Counter(
            "fondation_heartbeat_failures", "Heartbeats that could not reach the database.", registry=r
        )
        self.duration = Histogram(
            "fondation_job_duration_seconds",
            "Wall time of one attempt, from child start to finalisation.",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, float("inf")),
            registry=r,
        )
        self.active = Gauge("fondation_active_jobs", "Jobs running on this worker now.", registry=r)
        self.llm_tokens = Counter(
            "fondation_llm_tokens",
            "LLM tokens used by this worker's jobs, by provider, model and direction (input, output).",
            ["provider", "model", "direction"],
            registry=r,
        )
        self.llm_cost = Counter(
            "fondation_llm_cost_usd", "LLM cost of this worker's jobs, in dollars.", ["provider", "model"], registry=r
        )
        self.up = Gauge("fondation_worker_up", "1 while the worker runs its loop.", registry=r)
        r.register(QueueCollector(queue))
        r.register(MemoryCollector())

    def count_usage(self, message: dict[str, Any]) -> None:
        """One LLM call's usage, as the job's child reported it (ignored when malformed: it is only a metric)."""
        try:
            provider, model = str(message["provider"]), str(message["model"])
            input_tokens, output_tokens = int(message["input_tokens"]), int(message["output_tokens"])
            cost = float(message["cost_usd"])
        except (KeyError, TypeError, ValueError):
            return
        if min(input_tokens, output_tokens, cost) < 0:
            return
        self.llm_tokens.labels(provider, model, "input").inc(input_tokens)
        self.llm_tokens.labels(provider, model, "output").inc(output_tokens)
        self.llm_cost.labels(provider, model).inc(cost)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Checks a worker makes before it takes more work: enough disk for a clone, memory under its limit."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import psutil

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class GuardReport:
    """Whether claiming is allowed now, and if not, why (shown by /health)."""

    free_disk_mb: float
    min_free_disk_mb: int
    worker_rss_mb: float
    worker_memory_mb: int

    @property
    def disk_ok(self) -> bool:
        return self.free_disk_mb >= self.min_free_disk_mb

    @property
    def memory_ok(self) -> bool:
        return self.worker_rss_mb <= self.worker_memory_mb

    @property
    def reasons(self) -> list[str]:
        reasons = []
        if not self.disk_ok:
            reasons.append(
                f"free disk in TEMP_DIR is {self.free_disk_mb:.0f} MB, below FONDATION_MIN_FREE_DISK_MB "
                f"({self.min_free_disk_mb} MB)"
            )
        if not self.memory_ok:
            reasons.append(
                f"worker memory is {self.worker_rss_mb:.0f} MB, above FONDATION_WORKER_MEMORY_MB "
                f"({self.worker_memory_mb} MB)"
            )
        return reasons


def check(temp_dir: Path, *, min_free_disk_mb: int, worker_memory_mb: int) -> GuardReport:
    temp_dir.mkdir(parents=True, exist_ok=True)
    return GuardReport(
        free_disk_mb=shutil.disk_usage(temp_dir).free / MB,
        min_free_disk_mb=min_free_disk_mb,
        worker_rss_mb=psutil.Process().memory_info().rss / MB,
        worker_memory_mb=worker_memory_mb,
    )

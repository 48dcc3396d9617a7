"""Per-attempt working directories under TEMP_DIR: `job-<id>-<attempt>`, removed after each attempt.

A worker that crashed leaves its directories behind; the next worker to start removes those of
attempts that are no longer running anywhere — never another live worker's.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Collection
from pathlib import Path

_ATTEMPT_DIR = re.compile(r"^job-(\d+)-(\d+)$")


def attempt_dir(temp_dir: Path, job_id: int, attempt: int) -> Path:
    return temp_dir / f"job-{job_id}-{attempt}"


def create_attempt_dir(temp_dir: Path, job_id: int, attempt: int) -> Path:
    """A fresh, empty directory for this attempt (a leftover of the same attempt is wiped first)."""
    path = attempt_dir(temp_dir, job_id, attempt)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, mode=0o700)
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def clean_leftovers(
    temp_dir: Path,
    running: Collection[tuple[int, int]] | Callable[[], Collection[tuple[int, int]]],
    *,
    everything: bool = False,
) -> list[Path]:
    """Remove attempt directories whose attempt is not running anywhere (or all of them).

    Given a callable, `running` is asked after the directory is listed: a directory made meanwhile
    by another worker's new claim is then not in the listing, rather than missing from `running`.
    """
    if not temp_dir.is_dir():
        return []
    entries = sorted(temp_dir.iterdir())
    if callable(running):
        running = running()
    removed = []
    for entry in entries:
        match = _ATTEMPT_DIR.match(entry.name)
        if match is None or not entry.is_dir():
            continue
        if everything or (int(match[1]), int(match[2])) not in running:
            remove(entry)
            removed.append(entry)
    return removed

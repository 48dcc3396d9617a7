"""How big a fetched source may be, measured the same way for a clone, an archive and a directory.

A course cannot be made from a repository of any size: the limits protect the worker's disk and the
analysis time. They are checked as early as each kind of source allows (a git tree before checkout, an
archive member before it is written) and once more on disk, always with the figures in the message, so
the person who submitted the source knows by how much it is over.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from fondation.domain.errors import SourceError
from fondation.domain.jobs import ErrorKind

MB = 1024 * 1024
_UNITS = ("KB", "MB", "GB", "TB")


@dataclass(frozen=True, slots=True)
class Limits:
    """The most bytes and files a source may hold (its `.git` directory left out)."""

    max_bytes: int
    max_files: int

    def check(self, what: str, size: int, files: int, *, partial: bool = False) -> None:
        """Refuse a source over either limit as `permanent`: fetching it again would not make it smaller.

        `what` names the source in the message ("repository", "archive", "directory"); `partial` says the
        figures are a running count that stopped at the limit, so the message reads "at least".
        """
        at_least = "at least " if partial else ""
        if files > self.max_files:
            raise SourceError(ErrorKind.PERMANENT, f"{what} has {at_least}{files:,} files, limit {self.max_files:,}")
        if size > self.max_bytes:
            raise SourceError(
                ErrorKind.PERMANENT,
                f"{what} is {at_least}{human_size(size, round_up=True)}, limit {human_size(self.max_bytes)}",
            )


def human_size(size: int, *, round_up: bool = False) -> str:
    """`3.2 GB` (binary units). Rounding up keeps a size just over a limit from reading as equal to it."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            break
    if round_up:
        value = math.ceil(value * 10) / 10
    return f"{value:.1f} {unit}"


def measure_tree(root: Path, *, skip: frozenset[str] = frozenset()) -> tuple[int, int]:
    """Bytes and files under `root`, `.git` directories and those named in `skip` left out; symbolic links
    are counted, never followed.

    A link counts as one small file (its own size), whatever it points at: following it could measure (and
    later read) anything on the machine.
    """
    size = files = 0
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != ".git" and entry.name not in skip:
                            pending.append(Path(entry.path))
                        continue
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
        except OSError as error:
            raise SourceError(ErrorKind.PERMANENT, f"cannot read {directory}: {error.strerror}") from None
    return size, files

"""Tables derived from a repository's file list, built once per index for the resolvers that search it.

C includes and Ruby requires may name a file by a path suffix (`net/socket.h` for
`lib/net/socket.h`); scanning every path for every import would make resolution quadratic, so the
basename table and directory list are built on first use and kept for the last few indexes.
"""

from __future__ import annotations

from posixpath import basename, dirname
from typing import ClassVar

from fondation.codemap.languages.base import RepoIndex


class PathLookup:
    """Basename → paths, and every directory, of one `RepoIndex`."""

    _recent: ClassVar[list[tuple[RepoIndex, PathLookup]]] = []
    _KEEP: ClassVar[int] = 2

    def __init__(self, index: RepoIndex) -> None:
        by_name: dict[str, list[str]] = {}
        directories: set[str] = set()
        for path in sorted(index.paths):
            by_name.setdefault(basename(path), []).append(path)
            directory = dirname(path)
            while directory and directory not in directories:
                directories.add(directory)
                directory = dirname(directory)
        self.by_name = by_name
        self.directories = tuple(sorted(directories))

    @classmethod
    def of(cls, index: RepoIndex) -> PathLookup:
        """The lookup of `index`, reused while the same index resolves its imports (identity, not equality)."""
        for known, lookup in cls._recent:
            if known is index:
                return lookup
        lookup = cls(index)
        cls._recent = [(index, lookup), *cls._recent[: cls._KEEP - 1]]
        return lookup

    def dirs_named(self, name: str) -> tuple[str, ...]:
        return tuple(d for d in self.directories if basename(d) == name)

    def with_suffix(self, suffix: str) -> list[str]:
        """Paths equal to `suffix` or ending with `/suffix`, sorted."""
        suffix = suffix.lstrip("./")
        return [p for p in self.by_name.get(basename(suffix), ()) if p == suffix or p.endswith("/" + suffix)]

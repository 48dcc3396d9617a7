"""The repository as the steps read it: the code map plus the checked-out files, read lazily, once.

Steps quote the repository (excerpts, call sites, import lines), so they need its text; the
grounding checker needs the same text to verify what was quoted. Both go through here, so a file is
read and split into lines once per generation whatever asks for it.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from fondation.codemap.model import CodeMap, Dependency, FileEntry, Symbol, SymbolKind

_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`]+)`")
_PRIVATE = re.compile(r"^_|(^|\.)_[^.]*$")
#: Package files whose imports are usually re-exports (`from .jobs import JobQueue` in `__init__.py`).
_REEXPORTING = frozenset({"__init__", "index", "mod", "lib"})


@dataclass
class Workspace:
    """A checked-out repository (`root`) and its code map."""

    root: Path
    code_map: CodeMap
    web_url: str | None = None
    _lines: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _call_sites: dict[tuple[str, tuple[str, ...], int], list[tuple[str, int, str]]] = field(
        default_factory=dict, repr=False
    )

    def lines(self, path: str) -> list[str]:
        """The file's lines without line ends; empty for a file that is not in the code map."""
        if path not in self._lines:
            entry = self.code_map.by_path.get(path)
            if entry is None:
                return []
            try:
                text = (self.root / path).read_bytes().decode("utf-8", "replace")
            except OSError:
                text = ""
            self._lines[path] = text.splitlines()
        return self._lines[path]

    def excerpt(self, path: str, start: int, end: int) -> list[str]:
        """Lines `start`..`end` (1-based, inclusive) exactly as they are in the file."""
        return self.lines(path)[start - 1 : end]

    @cached_property
    def code_map_digest(self) -> str:
        """SHA-256 of the code map's JSON: what content keys depend on, computed once per generation
        (the JSON of a 500k-line code map takes a second to build)."""
        return hashlib.sha256(self.code_map.to_json().encode()).hexdigest()

    @cached_property
    def importers(self) -> dict[str, list[Dependency]]:
        """For each file, the edges of the files that import it."""
        found: dict[str, list[Dependency]] = defaultdict(list)
        for edge in self.code_map.dependencies:
            found[edge.target].append(edge)
        return dict(found)

    def users_of(self, path: str) -> list[str]:
        """Non-test files that import `path`, directly or through a package file that re-exports it."""
        direct = {edge.source for edge in self.importers.get(path, ())}
        through = {
            edge.source
            for hub in direct
            if hub.rsplit("/", 1)[-1].split(".", 1)[0] in _REEXPORTING
            for edge in self.importers.get(hub, ())
        }
        users = (direct | through) - {path}
        return sorted(user for user in users if not self.code_map.by_path[user].test)

    @cached_property
    def imported(self) -> dict[str, list[Dependency]]:
        """For each file, the edges to the files it imports."""
        found: dict[str, list[Dependency]] = defaultdict(list)
        for edge in self.code_map.dependencies:
            found[edge.source].append(edge)
        return dict(found)

    @cached_property
    def ranked_files(self) -> list[FileEntry]:
        """Analysed non-test code files, most important first (rank, then path for ties)."""
        ranks = self.code_map.ranks
        entries = [self.code_map.by_path[path] for path in ranks]
        return sorted(entries, key=lambda entry: (-ranks[entry.path], entry.path))

    @cached_property
    def symbol_names(self) -> frozenset[str]:
        """Every symbol name and qualname of the repository, for the grounding check."""
        names: set[str] = set()
        for entry in self.code_map.files:
            for symbol in entry.symbols:
                names.add(symbol.name)
                names.add(symbol.qualname)
        return frozenset(names)

    @cached_property
    def top_level_names(self) -> dict[str, str]:
        """Public top-level type and function names of the code (not tests) → the file defining them.

        A name defined in several files goes to the most important one, so `definition_of` is stable.
        """
        found: dict[str, str] = {}
        for entry in self.ranked_files:
            for symbol in entry.symbols:
                if "." not in symbol.qualname and is_public(symbol) and symbol.kind is not SymbolKind.CONSTANT:
                    found.setdefault(symbol.name, entry.path)
        return found

    def definition_of(self, name: str) -> str | None:
        return self.top_level_names.get(name)

    def tests_of(self, path: str, qualname: str = "") -> tuple[str, ...]:
        return self._tests.get((path, qualname), ())

    @cached_property
    def _tests(self) -> dict[tuple[str, str], tuple[str, ...]]:
        return {(link.path, link.qualname): link.tests for link in self.code_map.tests}

    def symbol(self, path: str, qualname: str) -> Symbol | None:
        entry = self.code_map.by_path.get(path)
        if entry is None:
            return None
        return next((symbol for symbol in entry.symbols if symbol.qualname == qualname), None)

    def call_sites(self, name: str, *, within: list[str], limit: int = 3) -> list[tuple[str, int, str]]:
        """Lines of `within` files that use `name` as a whole identifier (path, line, stripped text).

        Definitions (`def name`, `class name`, `function name`), imports and export lists are not
        uses and are skipped; a line that calls the name or reaches into it (`name(`, `name.`) is
        preferred over one that only mentions it.
        """
        key = (name, tuple(within), limit)
        if key not in self._call_sites:  # a chapter and its tutorial ask the same: scan the files once
            self._call_sites[key] = self._scan_call_sites(name, within, limit)
        return self._call_sites[key]

    def _scan_call_sites(self, name: str, within: list[str], limit: int) -> list[tuple[str, int, str]]:
        mention = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")
        use = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}\s*[(.]")
        definition = re.compile(rf"\b(def|class|function|func|fn|struct|interface|type)\s+{re.escape(name)}\b")
        uses: list[tuple[str, int, str]] = []
        mentions: list[tuple[str, int, str]] = []
        for path in within:
            for number, line in enumerate(self.lines(path), start=1):
                text = line.strip()
                if not mention.search(line) or definition.search(line) or _is_import_line(text):
                    continue
                (uses if use.search(line) else mentions).append((path, number, text))
                if len(uses) >= limit:
                    return uses
        return (uses + mentions)[:limit]


def quoted_doc(text: str) -> str:
    """A docstring as course prose: RST roles and code marks dropped.

    The repository's own words are quoted, not claimed: a parameter name the author wrote in
    backticks is not a symbol, and must not be held to the grounding check as if the course named it.
    """
    return _ROLE.sub(r"\1", text).replace("`", "")


def is_public(symbol: Symbol) -> bool:
    """Whether a symbol is part of a module's surface (no leading underscore anywhere in its qualname)."""
    return not _PRIVATE.search(symbol.qualname)


def _is_import_line(text: str) -> bool:
    return text.startswith(
        ("import ", "from ", "#include", "use ", "using ", "require", "package ", "__all__", "export {")
    )

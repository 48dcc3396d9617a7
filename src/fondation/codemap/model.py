"""The code map's types: what the generator knows of a repository before any model is asked anything.

Everything here is plain data with a fixed field order, so that `CodeMap.to_json` is byte-for-byte
the same for the same commit: the grounding checks and the offline course are built from it, and a
course is reproducible only if its ground truth is.

Paths are repository-relative POSIX paths. Lines are 1-based and inclusive.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any


class SymbolKind(StrEnum):
    CLASS = "class"
    INTERFACE = "interface"
    STRUCT = "struct"
    ENUM = "enum"
    TRAIT = "trait"
    TYPE = "type"
    FUNCTION = "function"
    METHOD = "method"
    CONSTANT = "constant"


#: Kinds that define a type (the offline generator builds chapters around them).
TYPE_KINDS = frozenset(
    {SymbolKind.CLASS, SymbolKind.INTERFACE, SymbolKind.STRUCT, SymbolKind.ENUM, SymbolKind.TRAIT, SymbolKind.TYPE}
)


@dataclass(frozen=True, slots=True)
class Symbol:
    """A named definition in a file.

    `qualname` joins enclosing type names with `.` (`Queue.claim`); `signature` is the definition's
    first line(s) as written, trimmed to one line; `doc` is the docstring or the comment just above,
    first paragraph only.
    """

    name: str
    qualname: str
    kind: SymbolKind
    line: int
    end_line: int
    signature: str = ""
    doc: str = ""


@dataclass(frozen=True, slots=True)
class RawImport:
    """An import as the file wrote it, before it is resolved to files of the repository.

    `target` is the module text (`os.path`, `./util`, `github.com/a/b/pkg`, `crate::store::db`,
    `java.util.List`, `stdio.h`); `names` the imported names where the syntax gives them; `level` the
    number of leading dots of a Python relative import; `system` marks a C/C++ `<…>` include.
    """

    target: str
    line: int
    names: tuple[str, ...] = ()
    level: int = 0
    system: bool = False


@dataclass(frozen=True, slots=True)
class FileAnalysis:
    """What a language analyser finds in one file's text.

    `package` is the file's declared namespace where the language has one (Go package, Java/Kotlin
    package, C# namespace, PHP namespace); `has_main` says the file is a program entry point
    (`if __name__ == "__main__"`, Go `func main` in package main, a Rust/Java/C `main`).
    """

    symbols: tuple[Symbol, ...] = ()
    imports: tuple[RawImport, ...] = ()
    package: str | None = None
    has_main: bool = False
    error: str | None = None
    #: Other ways in that the file declares itself, as (kind, name, line): web routes, CLI commands.
    entry_points: tuple[tuple[str, str, int], ...] = ()
    #: What the file says it is for: the module docstring, first paragraph.
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Dependency:
    """`source` imports `target` (both files of the repository); `line` is the first import line."""

    source: str
    target: str
    line: int


@dataclass(frozen=True, slots=True)
class EntryPoint:
    """Where a program starts: a CLI script, a `__main__`, a package.json bin, a Go main, a route."""

    kind: str
    name: str
    path: str
    line: int


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of the inventory, parsed or only listed.

    `skipped` says why a listed file was not analysed (too large, syntax error); `test` marks test
    code, which the generator uses for tutorials and never for chapters.
    """

    path: str
    language: str
    lines: int
    size: int
    test: bool = False
    symbols: tuple[Symbol, ...] = ()
    imports: tuple[str, ...] = ()
    package: str | None = None
    skipped: str | None = None
    doc: str = ""


@dataclass(frozen=True, slots=True)
class ReadmeSection:
    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class LanguageShare:
    language: str
    files: int
    lines: int


@dataclass(frozen=True, slots=True)
class TestLink:
    """Tests that exercise a symbol (`path::qualname`) or, with an empty qualname, a whole file."""

    path: str
    qualname: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class CodeMap:
    """The whole-repository view the generator stands on."""

    name: str
    commit: str | None
    files: tuple[FileEntry, ...]
    dependencies: tuple[Dependency, ...]
    ranks: dict[str, float]
    entry_points: tuple[EntryPoint, ...]
    tests: tuple[TestLink, ...]
    readme: tuple[ReadmeSection, ...]
    languages: tuple[LanguageShare, ...]
    excluded: dict[str, int] = field(default_factory=dict)
    #: Top-level names of the modules imported from outside the repository (`os`, `react`, `serde`).
    external: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """The canonical serialisation: fixed key order, no platform-dependent spacing."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n"

    def file(self, path: str) -> FileEntry | None:
        return self.by_path.get(path)

    @cached_property
    def by_path(self) -> dict[str, FileEntry]:
        return {entry.path: entry for entry in self.files}

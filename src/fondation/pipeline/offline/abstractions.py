"""Step 1, offline: the core abstractions are the most important files, and the big types inside them.

Importance is the code map's rank (PageRank over imports, weighted by size). A file whose bulk is
several large public types (a `core.py` holding `Command`, `Group` and `Context`) gives one
abstraction per type, since a newcomer learns those one at a time; any other file is one
abstraction named after its dominant type, or after the module itself.
"""

from __future__ import annotations

from fondation.codemap.model import TYPE_KINDS, FileEntry, Symbol, SymbolKind
from fondation.pipeline.model import Abstraction, GenerationOptions, slugify
from fondation.pipeline.workspace import Workspace, is_public, quoted_doc

#: A type counts as large, and may become an abstraction of its own, from this many lines...
_LARGE_TYPE_LINES = 40
#: ...and when it holds at least this share of its file.
_LARGE_TYPE_SHARE = 0.15
#: A type dominates its file (and names the abstraction) from this share.
_DOMINANT_SHARE = 0.4
_MAX_SPLIT = 3
_MAX_SYMBOLS = 8
_MIN_LINES = 5


def offline_abstractions(workspace: Workspace, options: GenerationOptions) -> tuple[Abstraction, ...]:
    """Up to `options.max_chapters` abstractions, most important first."""
    found: list[Abstraction] = []
    used_ids: set[str] = set()
    for entry in workspace.ranked_files:
        if len(found) >= options.max_chapters:
            break
        public = [symbol for symbol in entry.symbols if is_public(symbol)]
        if entry.lines < _MIN_LINES or not public or _private_module(entry.path):
            continue
        for name, symbols, doc in _units(entry, public)[: options.max_chapters - len(found)]:
            identifier = _unique(slugify(name), used_ids)
            found.append(
                Abstraction(
                    id=identifier,
                    name=name,
                    description=quoted_doc(doc),
                    files=(entry.path,),
                    symbols=tuple(f"{entry.path}::{symbol.qualname}" for symbol in symbols[:_MAX_SYMBOLS]),
                )
            )
    return tuple(found)


def _units(entry: FileEntry, public: list[Symbol]) -> list[tuple[str, list[Symbol], str]]:
    """(name, symbols, description) of each abstraction a file gives."""
    types = [symbol for symbol in public if symbol.kind in TYPE_KINDS and "." not in symbol.qualname]
    large = [
        symbol for symbol in types if _span(symbol) >= _LARGE_TYPE_LINES and _share(symbol, entry) >= _LARGE_TYPE_SHARE
    ]
    if len(large) >= 2:
        large.sort(key=lambda symbol: (-_span(symbol), symbol.line))
        return [(symbol.name, _members(symbol, public), symbol.doc or entry.doc) for symbol in large[:_MAX_SPLIT]]
    dominant = max(types, key=_span, default=None)
    if dominant is not None and _share(dominant, entry) >= _DOMINANT_SHARE:
        return [(dominant.name, _top_level_first(public, dominant), dominant.doc or entry.doc)]
    return [(_module_name(entry.path), _top_level_first(public, None), entry.doc)]


def _members(owner: Symbol, public: list[Symbol]) -> list[Symbol]:
    prefix = owner.qualname + "."
    return [owner, *(symbol for symbol in public if symbol.qualname.startswith(prefix))]


def _top_level_first(public: list[Symbol], first: Symbol | None) -> list[Symbol]:
    """The symbols to introduce: the named type, then top-level definitions, then methods, by size."""
    ordered = sorted(
        public,
        key=lambda symbol: ("." in symbol.qualname, symbol.kind is SymbolKind.CONSTANT, -_span(symbol), symbol.line),
    )
    if first is not None:
        ordered.remove(first)
        ordered.insert(0, first)
    return ordered


def _private_module(path: str) -> bool:
    """`_compat.py`, `_internal/x.py`: helpers the project itself marks as not part of its surface."""
    return any(part.startswith("_") and not part.startswith("__") for part in path.split("/"))


def _span(symbol: Symbol) -> int:
    return symbol.end_line - symbol.line + 1


def _share(symbol: Symbol, entry: FileEntry) -> float:
    return _span(symbol) / max(entry.lines, 1)


def _module_name(path: str) -> str:
    """`src/pkg/store/database.py` → `store/database`: the last two meaningful path parts."""
    parts = [
        part for part in path.rsplit(".", 1)[0].split("/") if part not in ("src", "lib", "__init__", "index", "mod")
    ]
    return "/".join(parts[-2:]) or path


def _unique(identifier: str, used: set[str]) -> str:
    candidate, number = identifier, 2
    while candidate in used:
        candidate = f"{identifier}-{number}"
        number += 1
    used.add(candidate)
    return candidate

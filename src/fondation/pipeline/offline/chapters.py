"""Step 4, offline: one chapter per abstraction, every sentence anchored in the repository.

A chapter says why the abstraction exists (its docstring, who depends on it), shows a real call
site, lists its public surface with signatures, quotes its main definitions verbatim, draws its
neighbourhood and a call sequence from real edges, and links to the chapters around it.
"""

from __future__ import annotations

import re
import textwrap

from fondation.codemap.model import TYPE_KINDS, Symbol
from fondation.pipeline.diagrams import flowchart, sequence
from fondation.pipeline.model import Abstraction, GenerationOptions, Page
from fondation.pipeline.offline.wording import Words
from fondation.pipeline.outline import Outline
from fondation.pipeline.workspace import Workspace, quoted_doc

_EXCERPT_LINES = 25
#: A call quoted as a typical use is shown whole when it closes its brackets within this many lines.
_STATEMENT_LINES = 8
_INSIDE_SYMBOLS = 2
_MAX_NEIGHBOURS = 6
_FENCE_LANGUAGE = {"cpp": "cpp", "csharp": "csharp", "tsx": "tsx", "shell": "bash"}
#: A name the code uses rather than mentions: called (`name(`), or a CamelCase type name.
_USED_NAME = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(|\b([A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*)\b")


def offline_chapter(
    workspace: Workspace, outline: Outline, abstraction: Abstraction, options: GenerationOptions
) -> Page:
    words = Words(options.language)
    symbols = _symbols(workspace, abstraction)
    path = abstraction.files[0]
    number = outline.number(abstraction.id)
    parts = [
        f"# {words('chapter', number=number, name=abstraction.name)}",
        outline.navigation(abstraction.id, words, from_dir="chapters"),
        f"**{words('where')}:** `{path}` ({words('lines', count=workspace.code_map.by_path[path].lines)})",
        f"## {words('why')}",
        _why(workspace, abstraction, symbols, words),
        f"## {words('use_case')}",
        _use_case(workspace, abstraction, symbols, words),
        f"## {words('concepts')}",
        _concepts(symbols),
        f"## {words('inside')}",
        *_inside(workspace, symbols, words),
        f"## {words('diagrams')}",
        *_diagrams(workspace, outline, abstraction, symbols, words),
    ]
    related = outline.related(abstraction.id, words, from_dir="chapters")
    if related:
        parts += [f"## {words('related')}", related]
    parts.append(outline.navigation(abstraction.id, words, from_dir="chapters", tutorial=True))
    title = words("chapter", number=number, name=abstraction.name)
    return Page(outline.chapter_path(abstraction.id), title, "\n\n".join(parts) + "\n", abstraction.id)


def fence(workspace: Workspace, path: str) -> str:
    """The code fence's language for a repository file."""
    language = workspace.code_map.by_path[path].language
    return _FENCE_LANGUAGE.get(language, language)


def _symbols(workspace: Workspace, abstraction: Abstraction) -> list[tuple[str, Symbol]]:
    found = []
    for reference in abstraction.symbols:
        path, qualname = reference.split("::", 1)
        symbol = workspace.symbol(path, qualname)
        if symbol is not None:
            found.append((path, symbol))
    return found


def _why(workspace: Workspace, abstraction: Abstraction, symbols: list[tuple[str, Symbol]], words: Words) -> str:
    path = abstraction.files[0]
    importers = sorted({edge.source for edge in workspace.importers.get(path, ())})
    if len(importers) > 1:
        usage = words("used_by", count=len(importers))
    else:
        usage = words("used_by_one", path=importers[0]) if importers else words("used_by_none")
    if abstraction.description:
        return f"{abstraction.description}\n\n{usage}"
    types = sum(1 for _, symbol in symbols if symbol.kind in TYPE_KINDS)
    functions = len(symbols) - types
    pieces = []
    if types:
        pieces.append(words("summary_types", count=types))
    if functions:
        pieces.append(words("summary_functions", count=functions))
    summary = words.join(pieces) if pieces else words("summary_nothing")
    return words("why_fallback", path=path, summary=summary, usage=usage)


def _use_case(workspace: Workspace, abstraction: Abstraction, symbols: list[tuple[str, Symbol]], words: Words) -> str:
    callers = sorted({user for file in abstraction.files for user in workspace.users_of(file)})
    for _, symbol in symbols:
        sites = workspace.call_sites(symbol.name, within=callers, limit=1)
        if sites:
            path, line, _ = sites[0]
            statement = _statement(workspace.excerpt(path, line, line + _STATEMENT_LINES - 1))
            code = textwrap.dedent("\n".join(statement))  # the grounding check ignores indentation
            return f"{words('use_case_intro', path=path, line=line)}\n\n```{fence(workspace, path)}\n{code}\n```"
    entry = next((point for point in workspace.code_map.entry_points if point.path in abstraction.files), None)
    if entry is not None:
        return words("use_case_none", entry=f"`{entry.path}:{entry.line}`")
    return words("use_case_nothing")


def _statement(lines: list[str]) -> list[str]:
    """The first line and the ones that complete its brackets: the whole call, not its first line."""
    depth = 0
    for count, line in enumerate(lines, start=1):
        depth += sum(line.count(opening) for opening in "([{") - sum(line.count(closing) for closing in ")]}")
        if depth <= 0:
            return lines[:count]
    return lines[:1]


def _concepts(symbols: list[tuple[str, Symbol]]) -> str:
    items = []
    for path, symbol in symbols:
        doc = f" — {quoted_doc(symbol.doc)}" if symbol.doc else ""
        items.append(f"- **`{symbol.qualname}`** (`{path}:{symbol.line}`){doc}\n\n  `{_one_line(symbol.signature)}`")
    return "\n".join(items)


def _inside(workspace: Workspace, symbols: list[tuple[str, Symbol]], words: Words) -> list[str]:
    biggest = sorted(symbols, key=lambda item: (-(item[1].end_line - item[1].line), item[1].line))[:_INSIDE_SYMBOLS]
    parts = []
    for path, symbol in sorted(biggest, key=lambda item: item[1].line):
        end = min(symbol.end_line, symbol.line + _EXCERPT_LINES - 1)
        lines = workspace.excerpt(path, symbol.line, end)
        if not lines:
            continue
        intro = words("inside_intro", name=symbol.qualname, path=path, start=symbol.line, end=symbol.end_line)
        if end < symbol.end_line:
            intro += " " + words("first_lines", count=end - symbol.line + 1)
        parts.append(
            f"{intro}\n\n`{path}:{symbol.line}-{end}`\n\n```{fence(workspace, path)}\n" + "\n".join(lines) + "\n```"
        )
        calls = _calls(workspace, path, symbol)
        if calls:
            parts.append(words("calls", names=words.join([f"`{name}`" for name in calls])))
    return parts


def _calls(workspace: Workspace, path: str, symbol: Symbol) -> list[str]:
    """Names of other repository types and functions that the symbol's body mentions, in first-use order."""
    body = "\n".join(workspace.excerpt(path, symbol.line + 1, symbol.end_line))
    known = workspace.top_level_names
    found = []
    for name in dict.fromkeys(call or type_name for call, type_name in _USED_NAME.findall(body)):
        if name in known and name != symbol.name and not name.startswith("_"):
            found.append(name)
    return found[:5]


def _diagrams(
    workspace: Workspace, outline: Outline, abstraction: Abstraction, symbols: list[tuple[str, Symbol]], words: Words
) -> list[str]:
    parts = [
        words("neighbourhood", name=abstraction.name),
        f"```mermaid\n{neighbourhood_diagram(workspace, abstraction.files[0], [s for _, s in symbols])}\n```",
    ]
    steps = _sequence_steps(workspace, abstraction, symbols)
    if steps:
        participants = [source for source, _, _ in steps] + [target for _, target, _ in steps]
        parts += [words("sequence"), f"```mermaid\n{sequence(participants, steps)}\n```"]
    return parts


def neighbourhood_diagram(workspace: Workspace, path: str, symbols: list[Symbol]) -> str:
    """A file among the files that import it and the files it imports (or its own symbols, when alone)."""
    label = Outline.file_label
    edges = [(label(edge.source), label(path), "") for edge in workspace.importers.get(path, ())[:_MAX_NEIGHBOURS]]
    edges += [(label(path), label(edge.target), "") for edge in workspace.imported.get(path, ())[:_MAX_NEIGHBOURS]]
    if not edges:
        edges = [(label(path), symbol.qualname, "") for symbol in symbols[:_MAX_NEIGHBOURS]]
    return flowchart(edges, highlight=label(path))


def _sequence_steps(
    workspace: Workspace, abstraction: Abstraction, symbols: list[tuple[str, Symbol]]
) -> list[tuple[str, str, str]]:
    """caller → this abstraction → what its main symbol calls, from real call sites and real names."""
    path = abstraction.files[0]
    callers = workspace.users_of(path)
    steps: list[tuple[str, str, str]] = []
    for _, symbol in symbols:
        sites = workspace.call_sites(symbol.name, within=callers, limit=1)
        if sites:
            steps.append((sites[0][0], path, symbol.name))
            for name in _calls(workspace, path, symbol)[:3]:
                where = workspace.definition_of(name)
                if where is not None and where != path:
                    steps.append((path, where, name))
            break
    return steps


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("`", "'")

"""What a model is shown of the repository: packed from the code map to a budget, never the whole tree.

The overview (steps 1–3) lists the most important files with their public signatures and docs, and
no line numbers: a commit that only changes function bodies leaves it unchanged, so the first steps'
checkpoints stay valid and an incremental regeneration does not start over. A chapter's material
holds what it needs to cite: numbered excerpts of its own files, its callers, its tests.
"""

from __future__ import annotations

from fondation.codemap.model import FileEntry
from fondation.pipeline.model import Abstraction
from fondation.pipeline.workspace import Workspace, is_public, quoted_doc

_README_CHARS = 1500
_DOC_CHARS = 160
_EXCERPT_LINES = 40


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def repository_overview(workspace: Workspace, budget_chars: int) -> str:
    """Project facts, README opening, entry points, then ranked files with their public surface."""
    code_map = workspace.code_map
    lines = [f"Repository: {code_map.name}"]
    lines.append("Languages (lines): " + ", ".join(f"{s.language} {s.lines}" for s in code_map.languages[:6]))
    readme = "\n\n".join(f"{s.heading}\n{s.text}" if s.heading else s.text for s in code_map.readme[:2])
    if readme:
        lines += ["", "README (opening):", _cut(readme, _README_CHARS)]
    if code_map.entry_points:
        lines += ["", "Entry points:"]
        lines += [f"- {point.kind} {point.name} in {point.path}" for point in code_map.entry_points[:10]]
    lines += ["", "Files, most important first (path, public definitions):"]
    used = sum(len(line) + 1 for line in lines)
    for entry in workspace.ranked_files:
        block = _file_surface(entry)
        if used + len(block) > budget_chars:
            break
        lines.append(block)
        used += len(block) + 1
    return "\n".join(lines)


def _file_surface(entry: FileEntry) -> str:
    head = f"\n## {entry.path}" + (f" — {_cut(quoted_doc(entry.doc), _DOC_CHARS)}" if entry.doc else "")
    items = [
        f"- {symbol.kind.value} {entry.path}::{symbol.qualname}: {_cut(' '.join(symbol.signature.split()), 160)}"
        + (f" — {_cut(quoted_doc(symbol.doc), _DOC_CHARS)}" if symbol.doc else "")
        for symbol in entry.symbols
        if is_public(symbol)
    ]
    return "\n".join([head, *items[:30]])


def dependency_lines(workspace: Workspace, abstractions: tuple[Abstraction, ...]) -> list[str]:
    """The import edges between the abstractions' files, each with its `path:line` (the only valid evidence)."""
    owner = {path: abstraction.id for abstraction in abstractions for path in abstraction.files}
    found = []
    for edge in workspace.code_map.dependencies:
        source, target = owner.get(edge.source), owner.get(edge.target)
        if source and target and source != target:
            found.append(f"- {source} → {target}: {edge.source}:{edge.line} imports {edge.target}")
    return found


def abstraction_material(workspace: Workspace, abstraction: Abstraction, budget_chars: int) -> str:
    """Everything a chapter may cite: surface, numbered excerpts, callers and tests, within the budget."""
    parts = [_file_surface(workspace.code_map.by_path[path]) for path in abstraction.files]
    for reference in abstraction.symbols[:4]:
        path, qualname = reference.split("::", 1)
        symbol = workspace.symbol(path, qualname)
        if symbol is None:
            continue
        end = min(symbol.end_line, symbol.line + _EXCERPT_LINES - 1)
        numbered = [
            f"{number:>5} | {text}"
            for number, text in enumerate(workspace.excerpt(path, symbol.line, end), start=symbol.line)
        ]
        parts.append(f"\nExcerpt {path}:{symbol.line}-{end} ({qualname}):\n" + "\n".join(numbered))
    users = [user for path in abstraction.files for user in workspace.users_of(path)]
    names = [reference.rsplit("::", 1)[1].rsplit(".", 1)[-1] for reference in abstraction.symbols[:3]]
    sites = [site for name in names for site in workspace.call_sites(name, within=users, limit=2)]
    if sites:
        parts.append("\nWhere the rest of the code uses it:\n" + "\n".join(f"- {p}:{n}: {t}" for p, n, t in sites[:6]))
    tests = sorted({test for path in abstraction.files for test in workspace.tests_of(path)})
    if tests:
        parts.append("\nTests that exercise it: " + ", ".join(tests[:8]))
    text, used = [], 0
    for part in parts:
        if used + len(part) > budget_chars:
            break
        text.append(part)
        used += len(part)
    return "\n".join(text)

"""Steps 2 and 3, offline: real dependency edges between abstractions, and a dependencies-first order.

An abstraction uses another when one of its files imports one of the other's files (the import line
is the evidence), or, for two types of the same file, when the first mentions the second by name
inside its own span (that line is the evidence). The order is a topological sort of that graph,
so every chapter comes after the chapters it builds on; a cycle is broken by importance.
"""

from __future__ import annotations

import re

from fondation.pipeline.model import Abstraction, GenerationOptions, Relationship, Relationships
from fondation.pipeline.offline.wording import Words
from fondation.pipeline.workspace import Workspace, quoted_doc

_MAX_LABEL_NAMES = 3


def offline_relationships(
    workspace: Workspace, abstractions: tuple[Abstraction, ...], options: GenerationOptions
) -> Relationships:
    words = Words(options.language)
    edges = []
    for source in abstractions:
        for target in abstractions:
            if source.id != target.id:
                edge = _edge(workspace, source, target, words)
                if edge is not None:
                    edges.append(edge)
    return Relationships(summary=project_summary(workspace, words), edges=tuple(edges))


def project_summary(workspace: Workspace, words: Words) -> str:
    """The README's first paragraph when it has one, else a sentence made of figures."""
    for section in workspace.code_map.readme:
        paragraph = _first_prose_paragraph(section.text)
        if paragraph:
            return quoted_doc(paragraph)
    code_map = workspace.code_map
    languages = words.join([share.language for share in code_map.languages[:2]])
    return words("summary_fallback", name=code_map.name, files=len(code_map.files), languages=languages)


def offline_order(abstractions: tuple[Abstraction, ...], relationships: Relationships) -> tuple[str, ...]:
    """Dependencies first; among the ready ones, the most important (earliest in `abstractions`) first."""
    importance = {abstraction.id: position for position, abstraction in enumerate(abstractions)}
    depends_on: dict[str, set[str]] = {identifier: set() for identifier in importance}
    for edge in relationships.edges:
        depends_on[edge.source].add(edge.target)
    order: list[str] = []
    remaining = set(importance)
    while remaining:
        ready = [node for node in remaining if not depends_on[node] & remaining]
        if not ready:  # a cycle: take the node with the fewest unmet dependencies, then the most important
            ready = [min(remaining, key=lambda node: (len(depends_on[node] & remaining), importance[node]))]
        chosen = min(ready, key=importance.__getitem__)
        order.append(chosen)
        remaining.remove(chosen)
    return tuple(order)


def _edge(workspace: Workspace, source: Abstraction, target: Abstraction, words: Words) -> Relationship | None:
    target_names = [symbol.rsplit("::", 1)[1] for symbol in target.symbols]
    for path in source.files:
        for dependency in workspace.imported.get(path, ()):
            if dependency.target in target.files:
                used = _mentioned(workspace, source, target_names)
                label = words("imports", names=", ".join(used)) if used else words("uses")
                return Relationship(source.id, target.id, label, f"{path}:{dependency.line}")
    if set(source.files) & set(target.files):
        return _same_file_edge(workspace, source, target, target_names, words)
    return None


def _same_file_edge(
    workspace: Workspace, source: Abstraction, target: Abstraction, target_names: list[str], words: Words
) -> Relationship | None:
    """Two types of one file: the first line of the source's span that names the target's type."""
    if not source.symbols or not target_names:
        return None
    path, qualname = source.symbols[0].split("::", 1)
    owner = workspace.symbol(path, qualname)
    if owner is None:
        return None
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(target_names[0])}(?![A-Za-z0-9_])")
    for number in range(owner.line, owner.end_line + 1):
        line = workspace.lines(path)[number - 1] if number <= len(workspace.lines(path)) else ""
        if pattern.search(line):
            return Relationship(source.id, target.id, words("uses"), f"{path}:{number}")
    return None


def _mentioned(workspace: Workspace, source: Abstraction, names: list[str]) -> list[str]:
    """Which of the target's names the source's files use (at most a few, in the target's order)."""
    text = "\n".join("\n".join(workspace.lines(path)) for path in source.files)
    found = []
    for name in dict.fromkeys(name.rsplit(".", 1)[-1] for name in names):
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text):
            found.append(name)
        if len(found) >= _MAX_LABEL_NAMES:
            break
    return found


def _first_prose_paragraph(text: str) -> str:
    for paragraph in text.split("\n\n"):
        stripped = paragraph.strip()
        if stripped and not stripped.startswith(("```", "|", "<", "!", "[!", "    ", ">", "-", "*", "#")):
            return " ".join(stripped.split())
    return ""

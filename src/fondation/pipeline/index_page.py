"""The course's front page: what the project is, its architecture drawn from the relationships, the
key files, where to start, and the chapters and tutorials in order.

Built by code from the validated steps whatever the provider, so the one page every reader opens
is always grounded and its graph is deterministic.
"""

from __future__ import annotations

from fondation.pipeline.diagrams import flowchart
from fondation.pipeline.model import Page
from fondation.pipeline.offline.wording import Words
from fondation.pipeline.outline import Outline
from fondation.pipeline.workspace import Workspace, quoted_doc

_KEY_FILES = 10
_ENTRY_POINTS = 6


def index_page(workspace: Workspace, outline: Outline, language: str) -> Page:
    words = Words(language)
    code_map = workspace.code_map
    code_lines = sum(entry.lines for entry in code_map.files if entry.path in code_map.ranks)
    languages = words.join([share.language for share in code_map.languages[:2]])
    parts = [
        f"# {code_map.name}",
        outline.relationships.summary,
        words("index_intro", name=code_map.name)
        + " "
        + words("index_facts", files=len(code_map.files), lines=code_lines, languages=languages),
        f"## {words('architecture')}",
        words("architecture_intro"),
        f"```mermaid\n{_architecture(outline)}\n```",
        f"## {words('chapters')}",
        "\n".join(
            f"{position}. {outline.link(identifier, from_dir='', words=words)} — {_short(outline, identifier)}"
            for position, identifier in enumerate(outline.order, start=1)
        ),
        f"## {words('tutorials')}",
        "\n".join(
            f"- {outline.link(identifier, from_dir='', words=words, tutorial=True)}" for identifier in outline.order
        ),
        f"## {words('key_files')}",
        words("key_files_intro"),
        _key_files(workspace, words),
    ]
    points = code_map.entry_points[:_ENTRY_POINTS]
    if points:
        parts += [
            f"## {words('entry_points')}",
            "\n".join(
                "- " + words("entry_point", kind=point.kind, name=point.name, path=point.path, line=point.line)
                for point in points
            ),
        ]
    return Page("index.md", code_map.name, "\n\n".join(parts) + "\n", None, "index")


def _architecture(outline: Outline) -> str:
    names = {identifier: outline.by_id[identifier].name for identifier in outline.order}
    edges = [(names[edge.source], names[edge.target], "") for edge in outline.relationships.edges]
    if not edges:
        return flowchart([], highlight=names[outline.order[0]], direction="TD")
    return flowchart(edges, direction="TD")


def _short(outline: Outline, identifier: str) -> str:
    abstraction = outline.by_id[identifier]
    first = abstraction.description.split(". ", 1)[0].rstrip(".")
    return f"{first}." if first else f"`{abstraction.files[0]}`"


def _key_files(workspace: Workspace, words: Words) -> str:
    rows = [f"| {words('file')} | {words('role')} |", "|---|---|"]
    for entry in workspace.ranked_files[:_KEY_FILES]:
        role = quoted_doc(entry.doc).split(". ", 1)[0].rstrip(".").replace("|", "\\|") if entry.doc else ""
        rows.append(f"| `{entry.path}` | {role} |")
    return "\n".join(rows)

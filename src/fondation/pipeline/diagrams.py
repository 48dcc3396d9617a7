"""Mermaid diagrams built by code from real edges, so they always parse and never invent a part.

Node ids are generated (`n1`, `n2`, …) and every label is quoted after removing the characters that
mermaid reads as syntax, so a file or symbol name can never break a diagram. Output is deterministic:
nodes in first-seen order, edges in the order given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_UNSAFE = re.compile(r"[^A-Za-z0-9_ ./:@+-]|[\u0080-\uffff]")
_MAX_LABEL = 48


def label(text: str) -> str:
    """Text made safe for a quoted mermaid label or a message (no quotes, brackets, `;`, `#`…)."""
    cleaned = " ".join(_UNSAFE.sub(" ", text).split())
    return cleaned[:_MAX_LABEL] or "?"


def flowchart(edges: Sequence[tuple[str, str, str]], *, highlight: str | None = None, direction: str = "LR") -> str:
    """`flowchart` of (source, target, edge label) triples; `highlight` is drawn as the diagram's subject."""
    ids: dict[str, str] = {}

    def node(name: str) -> str:
        if name not in ids:
            ids[name] = f"n{len(ids) + 1}"
        return ids[name]

    lines = [f"flowchart {direction}"]
    body = []
    for source, target, text in edges:
        arrow = f"-->|{label(text)}|" if text else "-->"
        body.append(f"    {node(source)} {arrow} {node(target)}")
    if highlight is not None:
        node(highlight)
    lines.extend(f'    {identifier}["{label(name)}"]' for name, identifier in ids.items())
    lines.extend(body)
    if highlight is not None:
        lines.append("    classDef subject stroke-width:3px")
        lines.append(f"    class {ids[highlight]} subject")
    return "\n".join(lines)


def sequence(participants: Sequence[str], messages: Sequence[tuple[str, str, str]]) -> str:
    """`sequenceDiagram` of (from, to, message) triples between the named participants."""
    ids = {name: f"p{position + 1}" for position, name in enumerate(dict.fromkeys(participants))}
    lines = ["sequenceDiagram"]
    lines.extend(f"    participant {identifier} as {label(name)}" for name, identifier in ids.items())
    for source, target, text in messages:
        lines.append(f"    {ids[source]}->>{ids[target]}: {label(text)}")
    return "\n".join(lines)

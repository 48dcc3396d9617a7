"""The sequence-diagram half of check_mermaid: mermaid's sequence grammar, statement by statement.

mermaid's sequence lexer is case-insensitive, ends a statement at a new line or `;`, starts a comment at
`#` and at a `%` that begins a statement, and lets its keywords win over participant names. Activation is
counted as mermaid's parser counts it, so deactivating a participant that is not active fails here too.
"""

from __future__ import annotations

import re

__all__ = ["check_sequence"]


class _Invalid(Exception):
    """A reason the diagram is invalid; carries the one-line message."""


_KEYWORD = re.compile(
    r"(?:box|participant|actor|create|destroy|loop|rect|opt|alt|else|par|par_over|and|critical|option|break"
    r"|end|over|note|activate|deactivate|title|accTitle|accDescr|sequenceDiagram|autonumber|off)\b"
    r"|(?:left|right) of\b|(?:links?|properties|details)(?=[ \t]+[^/\\+()<>:\n,;\s-])",
    re.IGNORECASE | re.ASCII,
)
_HEADER = re.compile(r"sequenceDiagram[^\S\n]*(?:;|\n|\Z)")
_BLOCKS = ("loop", "rect", "opt", "alt", "par", "par_over", "critical", "break")
_BRANCHES = {"else": ("alt",), "and": ("par", "par_over"), "option": ("critical",)}
# A participant name as mermaid's lexer reads it: spaces allowed, a `-` only where no arrow starts.
_ACTOR = re.compile(
    r"[^/\\+()<=>\-:\n,;]+(?:(?!-x|--x|-\)|--\)|-\|\\|-\\|-/|-//|-\|/|/\|-|\\\|-|//-|\\\\-|/\|-|--\|\\|--|\(\))"
    r"-*[^+<=>\-:\n,;]+)*",
    re.IGNORECASE,
)
_ARROW = re.compile(r"->>|<<->>|-->>|<<-->>|->|-->|-x|--x|-\)|--\)", re.IGNORECASE)
_NOTE = re.compile(r"note\s+(left of|right of|over)\s+", re.IGNORECASE)
_NOTE_COMMA = re.compile(r",\s*")
_DECLARATION = re.compile(r"[^<>:,@\s]+\s+as\b.*|[^<>:,@]+")
_AUTONUMBER = re.compile(r"(?:\d+(?:\s+\d+)?|off)?", re.IGNORECASE)
_TITLE = re.compile(r"title:?\s+\S", re.IGNORECASE)


def check_sequence(text: str, line_offset: int) -> str | None:
    """None when `text` (starting at `sequenceDiagram`, on line `line_offset` + 1) parses, else the reason."""
    if not _HEADER.match(text):
        return f"line {line_offset + 1}: nothing but ';' may follow 'sequenceDiagram' on its line"
    lines = text[len("sequenceDiagram") :].split("\n")
    blocks: list[str] = []
    active: dict[str, int] = {}
    for number, raw in enumerate(lines, start=line_offset + 1):
        line = raw.split("#", 1)[0]  # `#` starts a comment anywhere
        for index, statement in enumerate(line.split(";")):
            stripped = statement.strip()
            if stripped.startswith("%"):
                break  # a `%` comment runs to the end of the line, across semicolons
            if not stripped:
                continue
            try:
                _statement(stripped, blocks, active)
            except _Invalid as error:
                hint = " (';' ends a statement: write #59; for a semicolon in text)" if index else ""
                return f"line {number}: {error}{hint}"
    if blocks:
        return f"line {len(lines) + line_offset}: {blocks[-1]!r} block not closed by 'end'"
    return None


def _statement(statement: str, blocks: list[str], active: dict[str, int]) -> None:
    keyword_match = _KEYWORD.match(statement)
    if keyword_match is None:
        _message(statement, active)
        return
    keyword = keyword_match.group(0).lower()
    rest = statement[keyword_match.end() :].strip()
    if _ARROW.match(rest):
        raise _Invalid(f"{keyword_match.group(0)!r} is a mermaid keyword and cannot name a participant")
    if keyword in _BLOCKS:
        blocks.append(keyword)
    elif keyword in _BRANCHES:
        if not blocks or blocks[-1] not in _BRANCHES[keyword]:
            raise _Invalid(f"'{keyword}' outside a {' or '.join(_BRANCHES[keyword])} block")
    elif keyword == "end":
        if rest:
            raise _Invalid(f"'end' must stand alone, found 'end {rest}'")
        if not blocks:
            raise _Invalid("'end' without an open block (loop, alt, opt, par, critical, break, rect)")
        blocks.pop()
    elif keyword in ("participant", "actor"):
        if not _DECLARATION.fullmatch(rest):
            raise _Invalid(f"invalid {keyword} declaration {statement!r}")
    elif keyword in ("activate", "deactivate"):
        if not _ACTOR.fullmatch(rest):
            raise _Invalid(f"{keyword} needs one participant")
        _activate(rest, active, 1 if keyword == "activate" else -1)
    elif keyword == "note":
        _note(statement)
    elif keyword == "autonumber":
        if not _AUTONUMBER.fullmatch(rest):
            raise _Invalid(f"invalid autonumber {rest!r}")
    elif keyword == "title":
        if not _TITLE.match(statement):
            raise _Invalid("title needs a text")
    else:
        raise _Invalid(f"unsupported statement {keyword_match.group(0)!r}")


def _message(statement: str, active: dict[str, int]) -> None:
    """`A->>+B: text`; a `+` activates B, a `-` deactivates A."""
    source = _ACTOR.match(statement)
    if source is None:
        raise _Invalid(f"expected a message like 'A->>B: text', found {statement[:30]!r}")
    arrow = _ARROW.match(statement, source.end())
    if arrow is None:
        raise _Invalid(f"unknown arrow after {source.group(0).strip()!r} (use ->>, -->>, ->, -->, -x, --x, -) or --))")
    rest = statement[arrow.end() :].lstrip()
    activation = {"+": 1, "-": -1}.get(rest[:1], 0)
    if activation:
        rest = rest[1:].lstrip()
    target = _ACTOR.match(rest)
    if target is None or _KEYWORD.match(rest):
        raise _Invalid(f"expected a participant after the arrow, found {rest[:20]!r}")
    if not rest[target.end() :].startswith(":"):
        raise _Invalid(f"a message needs ': text' after {target.group(0).strip()!r}")
    if activation:
        _activate((target if activation > 0 else source).group(0).strip(), active, activation)


def _note(statement: str) -> None:
    """`Note left of A: text`, `Note right of A: text`, `Note over A: text` or `Note over A,B: text`."""
    m = _NOTE.match(statement)
    if m is None:
        raise _Invalid("a note needs 'left of', 'right of' or 'over' and a participant")
    first = _ACTOR.match(statement, m.end())
    if first is None:
        raise _Invalid("a note needs a participant")
    end = first.end()
    if m.group(1).lower() == "over" and (comma := _NOTE_COMMA.match(statement, end)):
        second = _ACTOR.match(statement, comma.end())
        if second is None:
            raise _Invalid("a note over two participants needs 'A,B'")
        end = second.end()
    if not statement.startswith(":", end):
        raise _Invalid("a note needs ': text'")


def _activate(actor: str, active: dict[str, int], step: int) -> None:
    count = active.get(actor, 0) + step
    if count < 0:
        raise _Invalid(f"deactivating {actor!r}, which is not active (add + on the message that activates it)")
    active[actor] = count

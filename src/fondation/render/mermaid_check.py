"""A fast, pure-Python check of the mermaid diagrams a course uses, before they reach a reader.

Model output is checked for every diagram of every chapter, so the check must cost well under a
millisecond per diagram and need neither node nor a browser. It covers the two kinds Fondation asks for,
flowcharts (mermaid_flowchart) and sequence diagrams (mermaid_sequence), and follows mermaid's own lexer
where it is strict: unquoted brackets in labels, `end` as a node id, deactivating an inactive participant,
`linkStyle` past the last link, unbalanced blocks. Where it is unsure it says no, since a false "invalid"
costs a retry and a false "valid" shows a reader a broken diagram. tests/test_render_mermaid_real.py holds
it to the real parser on the corpus in tests/fixtures/mermaid/ and on generated diagrams.
"""

from __future__ import annotations

import re

from fondation.render.mermaid_flowchart import check_flowchart
from fondation.render.mermaid_sequence import check_sequence

__all__ = ["check_mermaid"]

# mermaid's preprocessing before its parsers run: CRLF, quotes in HTML attributes, directives, whole-line
# `%%` comments, then entity codes (`#quot;`), whose `;` is no statement separator. Removed parts leave
# their line breaks so that reported line numbers stay true. Front matter is not supported.
_HTML_TAG = re.compile(r"<(\w+)([^>]*)>")
_HTML_ATTRIBUTE = re.compile(r'="([^"]*)"')
_DIRECTIVE = re.compile(r"%%\{.*?\}%%", re.DOTALL)
_COMMENT_LINE = re.compile(r"^[^\S\n]*%%(?!\{)[^\n]*$", re.MULTILINE)
_STYLE_SEMICOLON = re.compile(r"(?:style|classDef).*:\S*#.*;")
_ENTITY = re.compile(r"#(\w+);", re.ASCII)
_FLOWCHART = re.compile(r"(?:flowchart|graph)\b")
_SEQUENCE = re.compile(r"sequenceDiagram\b")


def _single_quote_attributes(tag: re.Match[str]) -> str:
    return "<" + tag.group(1) + _HTML_ATTRIBUTE.sub(r"='\1'", tag.group(2)) + ">"


def _preprocess(source: str) -> str:
    text = source.replace("\r\n", "\n").replace("\r", "\n")
    text = _HTML_TAG.sub(_single_quote_attributes, text)
    text = _DIRECTIVE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    text = _COMMENT_LINE.sub("", text)
    text = _STYLE_SEMICOLON.sub(lambda m: m.group(0)[:-1], text)
    return _ENTITY.sub(lambda m: "\ufb02\xb0" + m.group(1) + "\xb6\xdf", text)


def check_mermaid(source: str) -> str | None:
    """None when mermaid would parse `source`, else a one-line reason naming the line at fault."""
    text = _preprocess(source)
    body = text.lstrip()
    if not body:
        return "empty diagram"
    line_offset = text.count("\n", 0, len(text) - len(body))
    if _FLOWCHART.match(body):
        return check_flowchart(body, line_offset)
    if _SEQUENCE.match(body):
        return check_sequence(body, line_offset)
    return f"unsupported diagram type {body.split(None, 1)[0]!r} (use flowchart or sequenceDiagram)"

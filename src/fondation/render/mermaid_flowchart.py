"""The flowchart half of check_mermaid: one pass over the text, the way mermaid's flow lexer reads it.

The lexer tries its rules in order at each token, so keywords (`end`, `style`, `class`, …) win over node
ids, an arrow wins over an id `x` or `o` written against it, link text runs to the arrow that closes it
even lines away, and a line holding `direction XY` anywhere is a direction statement. Labels take a
quoted string first and then plain text without brackets, braces, pipes or quotes.
"""

from __future__ import annotations

import re

__all__ = ["check_flowchart"]


class _Invalid(Exception):
    """A reason the diagram is invalid; carries the one-line message."""


_WORD_END = r"(?![A-Za-z0-9_])"  # JavaScript's \b after a keyword: ASCII word characters only
_HEADER = re.compile(
    r"(?:flowchart|graph)(?:[^\S\n]*(?:\n|\Z)|[^\S\n]*(?:TB|TD|BT|RL|LR|v|[<>^])"
    + _WORD_END
    + r"(?:;|[^\S\n]*(?:\n|\Z)))"
)
_SPACE = re.compile(r"[^\S\n]*")
_SPACES = re.compile(r"[^\S\n]+")
_BETWEEN = re.compile(r"[\s;]*")
_SEPARATOR = re.compile(r"[^\S\n]*(?:\n|;|\Z)")
# A node id: mermaid's NODE_STRING characters (a `-` only when no arrow or dot follows) and Unicode letters.
_ID = re.compile(r"(?:[A-Za-z0-9!#$%&'*+.`?\\_/]|-(?=[^>\-.])|(?![\x00-\x7f])[^\W\d_])+")
# A word of a subgraph title: keywords are allowed there, and a colon.
_TITLE_WORD = re.compile(r"(?:[A-Za-z0-9!#$%&'*+.`?\\_/:-]|(?![\x00-\x7f])[^\W\d_])+")
_TITLE_GAP = re.compile(r"[^\S\n]+(?=[^\s\[;])")
# Words the lexer takes as keywords wherever a token starts, so they cannot begin a node id.
_RESERVED = re.compile(
    r"(?:end|style|linkStyle|classDef|class|subgraph|graph|flowchart|interpolate|_self|_blank|_parent|_top)"
    + _WORD_END
    + r"|(?:click|call|href)(?:\s|\Z)"
)
_STYLING = re.compile(r"(?:classDef|class|style|linkStyle)" + _WORD_END)
_CLICK = re.compile(r"(?:click|call|href)(?:\s|\Z)")
_SUBGRAPH = re.compile(r"subgraph" + _WORD_END)
_END = re.compile(r"end" + _WORD_END)
# The lexer takes the rest of a line as a direction statement when it holds `direction XY` anywhere.
_DIRECTION = re.compile(r"[^\n]*direction\s+(?:TB|BT|RL|LR|TD)[^\n]*")
_KEYWORD = re.compile(r"\w+")
_LINK_NUMBERS = re.compile(r"\d+(?:,\d+)*")
_DEFAULT = re.compile(r"default\b")
_INTERPOLATE = re.compile(r"interpolate[^\S\n]+\w+")
_MORE = re.compile(r"[^\S\n]+\S")
_CLASS_NAMES = re.compile(r"[^\s,;]+(?:,[^\s,;]+)*")
_STYLES = re.compile(r"[A-Za-z0-9!#$%&'*+.?\\_/:, \t-]*[A-Za-z0-9#%]")
_INTERPOLATE_IN_STYLES = re.compile(r"(?<![\w-])interpolate\b")
_AMPERSAND = re.compile(r"[^\S\n]+&[^\S\n]+")
_MARKDOWN_STRING_CHARS = re.compile(r'[`"]')
# Shapes by opening bracket, longest first: (opening, closings, trapezoid text rules).
_SHAPES: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("(((", (")))",), False),
    ("((", ("))",), False),
    ("([", ("])",), False),
    ("(", (")",), False),
    ("[[", ("]]",), False),
    ("[(", (")]",), False),
    ("[/", ("/]", "\\]"), True),
    ("[\\", ("\\]", "/]"), True),
    ("[", ("]",), False),
    ("{{", ("}}",), False),
    ("{", ("}",), False),
    (">", ("]",), False),
)
_LABEL_SPECIALS = frozenset('[](){}|"')
_TRAPEZOID_SPECIALS = frozenset("[](){}/\\")  # a quote is text there, unless it opens a token
# Links in the lexer's order: complete arrows, or an opening that starts link text together with the arrow
# that ends it and the character that link text may not hold (doubled, for `-`).
_ARROW = re.compile(r"\s*[xo<]?--+[-xo>]\s*")
_THICK_ARROW = re.compile(r"\s*[xo<]?==+[=xo>]\s*")
_DOTTED_ARROW = re.compile(r"\s*[xo<]?-?\.+-[xo>]?\s*")
_LINKS: tuple[tuple[re.Pattern[str], re.Pattern[str] | None, str], ...] = (
    (_ARROW, None, ""),
    (re.compile(r"\s*[xo<]?--\s*"), _ARROW, "-"),
    (_THICK_ARROW, None, ""),
    (re.compile(r"\s*[xo<]?==\s*"), _THICK_ARROW, "="),
    (_DOTTED_ARROW, None, ""),
    (re.compile(r"\s*[xo<]?-\.\s*"), _DOTTED_ARROW, "."),
    (re.compile(r"\s*~~~+\s*"), None, ""),
)


def check_flowchart(text: str, line_offset: int) -> str | None:
    """None when `text` (starting at `flowchart`/`graph`, on line `line_offset` + 1) parses, else the reason."""
    try:
        _Flowchart(text, line_offset).check()
    except _Invalid as error:
        return str(error)
    return None


class _Flowchart:
    """A cursor over the text, moved statement by statement; every `fail` names the cursor's line."""

    def __init__(self, text: str, line_offset: int) -> None:
        self.s = text
        self.i = 0
        self.line_offset = line_offset
        self.edges = 0
        self.subgraphs = 0

    def fail(self, reason: str, at: int | None = None) -> _Invalid:
        line = self.s.count("\n", 0, self.i if at is None else at) + 1 + self.line_offset
        return _Invalid(f"line {line}: {reason}")

    def at(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        return pattern.match(self.s, self.i)

    def skip(self, pattern: re.Pattern[str]) -> None:
        if m := self.at(pattern):
            self.i = m.end()

    def eat(self, pattern: re.Pattern[str], what: str) -> str:
        m = self.at(pattern)
        if m is None:
            rest = self.s[self.i :].split("\n", 1)[0]
            raise self.fail(f"expected {what}, found {repr(rest[:20]) if rest else 'end of line'}")
        self.i = m.end()
        return m.group(0)

    def check(self) -> None:
        self.eat(_HEADER, "flowchart or graph, a direction (TD, TB, BT, LR or RL), then a new line")
        while True:
            self.skip(_BETWEEN)
            if self.i >= len(self.s):
                break
            needs_separator = self.statement()
            if self.at(_DIRECTION):
                raise self.fail("'direction' must start its own line")
            if needs_separator:
                self.eat(_SEPARATOR, "a new line or ';' after the statement")
        if self.subgraphs:
            raise self.fail(f"{self.subgraphs} subgraph(s) not closed by 'end'")

    def statement(self) -> bool:
        """Check one statement; False when it needs no separator after it (a subgraph's `end`)."""
        if self.at(_STYLING):
            self.styling()
        elif self.at(_CLICK):
            raise self.fail("click and callbacks are not supported (diagrams are not interactive)")
        elif self.at(_SUBGRAPH):
            self.subgraph()
        elif m := self.at(_END):
            if not self.subgraphs:
                raise self.fail("'end' without an open subgraph (a node cannot be called 'end')")
            self.subgraphs -= 1
            self.i = m.end()
            return False
        elif m := self.at(_DIRECTION):
            self.i = m.end()
        else:
            self.chain()
        return True

    def subgraph(self) -> None:
        """`subgraph id`, `subgraph id [title]`, `subgraph "title"` or `subgraph some words`."""
        self.i += len("subgraph")
        self.eat(_SPACES, "a subgraph id or title")
        if self.s.startswith('"', self.i):
            self.quoted()
        else:
            while True:
                if self.at(_END):  # mermaid would read on into the next line
                    raise self.fail("'end' in a subgraph title: quote the title, like subgraph id [\"Front end\"]")
                self.eat(_TITLE_WORD, "words or an id and a [title] (quote titles with brackets or commas)")
                if not (m := self.at(_TITLE_GAP)):
                    break
                self.i = m.end()
            self.skip(_SPACE)
            if self.s.startswith("[", self.i):
                self.i += 1
                self.label(("]",))
        self.subgraphs += 1

    def styling(self) -> None:
        """`classDef a,b css`, `class a,b name`, `style a css`, `linkStyle 0,1|default [interpolate x] css`."""
        keyword = self.eat(_KEYWORD, "a keyword")
        self.eat(_SPACES, f"a space after {keyword}")
        if keyword == "linkStyle":
            if self.at(_DEFAULT):
                self.i += len("default")
            else:
                for index in self.eat(_LINK_NUMBERS, "link numbers or 'default'").split(","):
                    if int(index) >= self.edges:
                        raise self.fail(f"linkStyle {index}: there are only {self.edges} links before it")
            self.eat(_SPACES, "a space before the link style")
            if self.at(_INTERPOLATE):
                self.eat(_INTERPOLATE, "a curve name")
                if not self.at(_MORE):
                    return
                self.eat(_SPACES, "a space")
        else:
            self.eat(_ID, "a node or class id")
            while self.s.startswith(",", self.i):
                self.i += 1
                self.eat(_ID, "an id after ','")
            self.eat(_SPACES, "a space before the style or class name")
        if keyword == "class":
            self.eat(_CLASS_NAMES, "a class name")
        elif _INTERPOLATE_IN_STYLES.search(self.eat(_STYLES, "CSS properties (no parentheses or quotes)")):
            raise self.fail("'interpolate' must come right after the link numbers")

    def chain(self) -> None:
        """`a & b --> c -- text --> d …`: node groups joined by links."""
        left = self.group()
        while self.link():
            right = self.group()
            self.edges += left * right
            left = right

    def group(self) -> int:
        count = 1
        self.node()
        while m := self.at(_AMPERSAND):
            self.i = m.end()
            self.node()
            count += 1
        return count

    def node(self) -> None:
        self.node_id()
        for opening, closings, trapezoid in _SHAPES:
            if self.s.startswith(opening, self.i):
                self.i += len(opening)
                self.label(closings, trapezoid=trapezoid)
                break
        if self.s.startswith(":::", self.i):
            self.i += 3
            self.eat(_ID, "a class name after ':::'")

    def node_id(self) -> None:
        if self.at(_DIRECTION):
            raise self.fail("'direction' must start its own line")
        if any(self.at(pattern) for pattern, _, _ in _LINKS):
            raise self.fail("expected a node, found an arrow (an id x or o written against -- is read as one)")
        if m := self.at(_RESERVED):
            word = m.group(0).strip()
            raise self.fail(f"{word!r} is a mermaid keyword and cannot be a node id (rename it, e.g. {word}_)")
        self.eat(_ID, "a node id")

    def quoted(self) -> bool:
        """Skip a `"…"` or markdown string at the cursor; False when it is empty (mermaid drops those)."""
        start = self.i
        if self.s.startswith('"`', start):
            end = self.s.find('`"', start + 2)
            if end < 0 or _MARKDOWN_STRING_CHARS.search(self.s, start + 2, end):
                raise self.fail('markdown string not closed by `"', at=start)
            self.i = end + 2
            return end > start + 2
        end = self.s.find('"', start + 1)
        if end < 0:
            raise self.fail("quote not closed", at=start)
        self.i = end + 1
        return end > start + 1

    def label(self, closings: tuple[str, ...], *, trapezoid: bool = False) -> None:
        """Text up to a closing bracket: a quoted string first, then plain text without brackets or quotes."""
        specials = _TRAPEZOID_SPECIALS if trapezoid else _LABEL_SPECIALS
        tokens = 0
        while True:
            if self.i >= len(self.s):
                raise self.fail(f"label not closed by {closings[0]!r}")
            if closing := next((c for c in closings if self.s.startswith(c, self.i)), None):
                if not tokens:
                    raise self.fail("empty label")
                self.i += len(closing)
                return
            char = self.s[self.i]
            if char == '"':
                start = self.i
                filled = self.quoted()
                if filled and tokens:
                    raise self.fail("a quoted string must hold the whole label: quote it all", at=start)
                tokens += filled
            elif trapezoid and char in "/\\":
                self.i += 1  # a slash of its own: a quote may open a string right after it
                tokens += 1
            elif char in specials:
                raise self.fail(f'{char!r} inside a label: put the label in double quotes, like A["text"]')
            else:
                self.i += 1
                while self.i < len(self.s) and self.s[self.i] not in specials:
                    self.i += 1
                tokens += 1

    def link(self) -> bool:
        """Move past the link at the cursor, with its `|text|` or `-- text -->`; False when there is none."""
        for pattern, end, forbidden in _LINKS:
            if m := self.at(pattern):
                self.i = m.end()
                if end is not None:
                    self.link_text(end, forbidden)
                elif self.s.startswith("|", self.i):
                    self.i += 1
                    self.label(("|",))
                    self.skip(_SPACE)
                return True
        return False

    def link_text(self, end: re.Pattern[str], forbidden: str) -> None:
        """`-- text -->`: text up to the arrow that closes it, which may be lines away, as in mermaid."""
        tokens = 0
        while True:
            if self.i >= len(self.s):
                raise self.fail("link text never closed by an arrow")
            if m := self.at(end):
                if not tokens:
                    raise self.fail("empty link text")
                self.i = m.end()
                return
            char = self.s[self.i]
            if char == '"':
                start = self.i
                filled = self.quoted()
                if filled and tokens:
                    raise self.fail("a quoted string must hold the whole link text", at=start)
                tokens += filled
            elif char == forbidden and (forbidden != "-" or self.s.startswith("--", self.i)):
                raise self.fail(f"{forbidden * 2!r} inside link text: links read A --> B or A -- text --> B (no <--)")
            else:
                self.i += 1
                tokens += 1

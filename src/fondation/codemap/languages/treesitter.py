"""Machinery the tree-sitter analysers share: cached parsers and queries, spans, docs, signatures.

Each language module only says which nodes are definitions and how they are named; everything that
must behave the same in every language (1-based spans clamped to the file, the comment just above a
definition, a one-line header, dropping a prototype when the file also defines the function, never
raising) lives here, so the twelve analysers cannot drift apart.

Speed matters (a 100k-line repository maps in seconds), hence: one parse per file, parsers built
once per thread and queries once per process, the tree walked only through declaration containers
(never into function bodies), a doc comment looked up at the one position where it must end, and
constructs that may hide anywhere (`require(…)`, `import(…)`, PHP `include`) found by queries that
run in C.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from posixpath import normpath

from tree_sitter import Language, Node, Parser, Query, QueryCursor
from tree_sitter_language_pack import get_language, get_parser

from fondation.codemap.model import FileAnalysis, RawImport, Symbol, SymbolKind

#: A definition's header longer than this is cut: it is shown on one line.
SIGNATURE_LIMIT = 200
#: A doc longer than this is cut: the code map carries summaries, not manuals.
DOC_LIMIT = 500

Scope = tuple[str, ...]
#: Given a container node and the enclosing type names, the children worth visiting, with their scope.
Visit = Callable[[Node, Scope], Iterable[tuple[Node, Scope]] | None]


@cache
def language(name: str) -> Language:
    return get_language(name)  # type: ignore[arg-type]


_local = threading.local()


def parser(name: str) -> Parser:
    """One parser per language and thread: building one costs more than a small file's parse, and a
    parser is not safe to share between threads (a scanner may use a thread pool)."""
    parsers: dict[str, Parser] = _local.__dict__.setdefault("parsers", {})
    found = parsers.get(name)
    if found is None:
        found = parsers[name] = get_parser(name)  # type: ignore[arg-type]
    return found


@cache
def query(name: str, source: str) -> Query:
    return Query(language(name), source)


def captures(name: str, source: str, node: Node) -> dict[str, list[Node]]:
    """Run a (cached) query under `node`: the C engine finds deep constructs far faster than a Python walk."""
    return QueryCursor(query(name, source)).captures(node)


def walk(root: Node, visit: Visit) -> None:
    """Depth-first, source-ordered walk that descends only where `visit` says, without recursion.

    Iterative so that pathologically nested input cannot hit Python's recursion limit.
    """
    stack: list[tuple[Node, Scope]] = [(root, ())]
    while stack:
        node, scope = stack.pop()
        children = visit(node, scope)
        if children:
            stack.extend(reversed(list(children)))


def named_children(node: Node, scope: Scope) -> list[tuple[Node, Scope]]:
    return [(child, scope) for child in node.named_children]


def first_named(node: Node | None) -> Node | None:
    """The first named child, or None: `Node.named_child` raises on a childless (often broken) node."""
    return node.named_children[0] if node is not None and node.named_child_count else None


def child_of_type(node: Node, *types: str) -> Node | None:
    """The first child of one of `types`, for grammars (Kotlin) whose nodes carry no field names."""
    for child in node.children:
        if child.type in types:
            return child
    return None


def has_token(node: Node, *tokens: str) -> bool:
    """Whether a direct child (a keyword token or a modifier node) reads as one of `tokens`."""
    return any(child.type in tokens for child in node.children)


def upper_case(name: str) -> bool:
    """`MAX_SIZE`-style names: the convention for constants where the language has no `const`."""
    return any(ch.isalpha() for ch in name) and name == name.upper()


def bare_type_name(text: str) -> str:
    """`&'a mut crate::x::Server<T>` → `Server`: the name a method's qualname is built from."""
    text = text.split("<", 1)[0].split("[", 1)[0].split("(", 1)[0]
    text = text.replace("::", ".").replace("\\", ".")
    tokens = re.findall(r"[A-Za-z_$][\w$]*", text.rsplit(".", 1)[-1])
    keep = [t for t in tokens if t not in {"mut", "const", "dyn", "impl", "struct", "class", "enum", "union"}]
    return keep[-1] if keep else ""


def string_value(text: str) -> str:
    """The content of a simple quoted literal (`'x'`, `"x"`, `` `x` ``), or '' when it is not one."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        return text[1:-1]
    return ""


def relative_path(base_dir: str, target: str) -> str | None:
    """Join a relative import to its importer's directory; None when it climbs out of the repository."""
    joined = normpath(f"{base_dir}/{target}" if base_dir else target)
    if joined == "." or joined.startswith("../") or joined == ".." or joined.startswith("/"):
        return None
    return joined


_DOC_MARKER = re.compile(r"^\s*(?:/\*+!?|\*+/?|//[/!]?|#+)?\s?")
_DOC_TAG = re.compile(r"^[@:]\w")
_XML_TAG = re.compile(r"</?(?:p|br|para|summary|remarks|c|code|b|i|em|strong|tt|see|seealso)\b[^>]*/?>", re.I)
_INLINE_TAG = re.compile(r"\{@\w+\s+([^}]*)\}")


def clean_doc(comments: list[str]) -> str:
    """The first paragraph of a doc comment, markers (`/**`, `*`, `///`, `#`, XML/HTML tags) removed.

    A paragraph ends at a blank line, a `@param`-style tag or a `<p>`; C# `<summary>` is preferred
    when present, since the rest of an XML doc is parameter lists.
    """
    text = "\n".join(comments)
    if "<summary>" in text:
        inner = text.split("<summary>", 1)[1].split("</summary>", 1)[0]
        text = inner
    text = re.sub(r"<p>|<para>", "\n\n", text, flags=re.I)
    lines: list[str] = []
    for raw in text.splitlines():
        line = _DOC_MARKER.sub("", raw, count=1)
        line = line.removesuffix("*/").strip()
        if not line:
            if lines:
                break
            continue
        if _DOC_TAG.match(line):
            break
        lines.append(line)
    doc = " ".join(" ".join(lines).split())
    doc = _INLINE_TAG.sub(r"\1", _XML_TAG.sub("", doc)).strip()
    return doc if len(doc) <= DOC_LIMIT else doc[: DOC_LIMIT - 1] + "…"


@dataclass(frozen=True, slots=True)
class Grammar:
    """How one language spells the things the shared machinery looks at.

    `comments` are the comment node types; `is_doc` says which comment texts are docs (Javadoc only
    for Java, any `//` for Go…); `line_comment` tells comments that chain line by line (`///`, `#`)
    from block comments, of which only the nearest counts; `prefix_types` are siblings written before a
    definition that belong to it (Rust `#[derive]`, TypeScript method decorators), so the doc sits
    above them; `annotation_types` are left out of signatures (`@Override`, `[Serializable]`).
    """

    name: str
    comments: tuple[str, ...]
    is_doc: Callable[[str], bool]
    line_comment: Callable[[str], bool] = lambda text: not text.startswith("/*")
    prefix_types: frozenset[str] = frozenset()
    annotation_types: frozenset[str] = frozenset()


@dataclass(slots=True)
class FileContext:
    """One file being analysed: its bytes and tree, and the symbols and imports found so far."""

    grammar: Grammar
    source: bytes
    root: Node
    line_count: int
    symbols: list[tuple[Symbol, bool]] = field(default_factory=list)
    imports: list[RawImport] = field(default_factory=list)

    def text(self, node: Node | None) -> str:
        if node is None:
            return ""
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def field_text(self, node: Node, name: str) -> str:
        return self.text(node.child_by_field_name(name))

    def line(self, node: Node) -> int:
        return min(node.start_point[0] + 1, max(self.line_count, 1))

    def span(self, start: Node, end: Node) -> tuple[int, int]:
        """1-based inclusive lines, never past the file: a node ending at column 0 ends on the line before."""
        first = start.start_point[0] + 1
        row, column = end.end_point
        last = row if column == 0 and row > start.start_point[0] else row + 1
        last = min(last, self.line_count)
        first = min(first, last)
        return first, last

    def doc(self, node: Node) -> str:
        """The doc comment ending on the line just above `node` (or above its attributes/decorators)."""
        anchor = node
        previous = node.prev_named_sibling
        while previous is not None and previous.type in self.grammar.prefix_types:
            anchor = previous
            previous = previous.prev_named_sibling
        found: list[str] = []
        comment = self._comment_above(anchor)
        while comment is not None:
            text = self.text(comment).strip()
            if not self.grammar.is_doc(text) or not self._starts_line(comment):
                break
            found.append(text)
            if not self.grammar.line_comment(text):
                break
            comment = self._comment_above(comment)
        return clean_doc(found[::-1]) if found else ""

    def _comment_above(self, node: Node) -> Node | None:
        """The comment that ends on the line before `node` starts, found from the bytes of that line.

        Looking up the one position is cheaper than collecting every comment of the file, and does
        not depend on where a grammar hangs its comments (Kotlin puts them inside the imports).
        """
        source = self.source
        line_start = source.rfind(b"\n", 0, node.start_byte) + 1
        if line_start == 0:
            return None
        previous_start = source.rfind(b"\n", 0, line_start - 1) + 1
        last = len(source[previous_start : line_start - 1].rstrip()) - 1
        if last < 0:
            return None
        found: Node | None = self.root.descendant_for_byte_range(previous_start + last, previous_start + last + 1)
        for _ in range(3):
            if found is None or found.type in self.grammar.comments:
                break
            found = found.parent
        if found is None or found.type not in self.grammar.comments or found.start_byte >= node.start_byte:
            return None
        return found

    def _starts_line(self, node: Node) -> bool:
        """Whether only whitespace precedes the comment on its line (a trailing comment documents its line)."""
        start = node.start_byte
        line_start = self.source.rfind(b"\n", 0, start) + 1
        return not self.source[line_start:start].strip()

    def signature(self, node: Node, end: int | None = None) -> str:
        """The header as written, from the first non-annotation token up to `end`, on one line."""
        start = self._header_start(node)
        if end is None:
            newline = self.source.find(b"\n", start, node.end_byte)
            end = node.end_byte if newline < 0 else newline
        text = self.source[start:end].decode("utf-8", "replace")
        header = " ".join(text.split()).rstrip("{; ")
        return header if len(header) <= SIGNATURE_LIMIT else header[: SIGNATURE_LIMIT - 1] + "…"

    def _header_start(self, node: Node) -> int:
        skip = self.grammar.annotation_types
        if not skip:
            return node.start_byte
        child = node.children[0] if node.child_count else None
        while child is not None:
            if child.type in skip or child.type in self.grammar.comments:
                child = child.next_sibling
                continue
            if child.type == "modifiers":
                inner = child.children[0] if child.child_count else None
                while inner is not None and (inner.type in skip or inner.type in self.grammar.comments):
                    inner = inner.next_sibling
                if inner is None:
                    child = child.next_sibling
                    continue
                return inner.start_byte
            return child.start_byte
        return node.start_byte

    def add(
        self,
        name: str,
        kind: SymbolKind,
        scope: Scope,
        node: Node,
        *,
        body: Node | None = None,
        outer: Node | None = None,
        sig_end: int | None = None,
        declaration: bool = False,
    ) -> None:
        """Record a definition.

        `outer` is the node that carries the doc and starts the span (an `export` or `template`
        wrapper); the signature runs to `body` (or `sig_end`, or the end of the first line);
        `declaration` marks a prototype, dropped when the file also defines the same name.
        """
        if not name or self.line_count == 0:
            return
        head = outer or node
        line, end_line = self.span(head, node)
        if sig_end is None and body is not None:
            sig_end = body.start_byte
        symbol = Symbol(
            name=name,
            qualname=".".join((*scope, name)),
            kind=kind,
            line=line,
            end_line=end_line,
            signature=self.signature(head, sig_end),
            doc=self.doc(head),
        )
        self.symbols.append((symbol, declaration))

    def add_import(self, target: str, node: Node, names: Iterable[str] = (), *, system: bool = False) -> None:
        if target:
            self.imports.append(RawImport(target=target, line=self.line(node), names=tuple(names), system=system))

    def finish(self, *, package: str | None = None, has_main: bool = False, doc: str = "") -> FileAnalysis:
        """Drop prototypes the file also defines (and repeated ones), keep source order.

        A dropped prototype lends its doc to a definition that has none: C++ documents methods in
        the class body and defines them below it.
        """
        defined = {(s.qualname, s.kind) for s, declaration in self.symbols if not declaration}
        docs: dict[tuple[str, SymbolKind], str] = {}
        for symbol, declaration in self.symbols:
            if declaration and symbol.doc:
                docs.setdefault((symbol.qualname, symbol.kind), symbol.doc)
        seen: set[tuple[str, SymbolKind]] = set()
        symbols: list[Symbol] = []
        for symbol, declaration in self.symbols:
            key = (symbol.qualname, symbol.kind)
            if declaration:
                if key in defined or key in seen:
                    continue
                seen.add(key)
            elif not symbol.doc and key in docs:
                symbol = replace(symbol, doc=docs[key])
            symbols.append(symbol)
        symbols.sort(key=lambda s: (s.line, -s.end_line))
        error = syntax_error(self.root, len(self.source))
        return FileAnalysis(
            symbols=tuple(symbols),
            imports=tuple(self.imports),
            package=package,
            has_main=has_main,
            error=error,
            doc=doc,
        )


#: Share of a file's bytes inside ERROR nodes from which its analysis is reported as failed.
ERROR_SHARE = 0.5


def syntax_error(root: Node, size: int) -> str | None:
    """A message when most of the file could not be parsed, else None.

    Tree-sitter recovers locally, and a C header full of macros routinely has some ERROR nodes while
    every definition around them is read correctly; calling those files failed would hide most C.
    Only files mostly made of ERROR nodes (binary junk, another language, a grammar far behind the
    code) are reported, with what could be read still returned.
    """
    if not root.has_error or size == 0:
        return None
    covered, first = 0, None
    stack = [root]
    while stack:
        node = stack.pop()
        broken = [child for child in node.children if child.has_error]
        if node.is_error:
            # Only what the parser could not make sense of: an ERROR node often wraps whole valid
            # declarations (a C header's `extern "C" {` makes the entire file one ERROR node).
            clean = sum(c.end_byte - c.start_byte for c in node.children if c.child_count and not c.has_error)
            covered += node.end_byte - node.start_byte - clean - sum(c.end_byte - c.start_byte for c in broken)
            first = node.start_point[0] + 1 if first is None else min(first, node.start_point[0] + 1)
        stack.extend(broken)
    if covered < ERROR_SHARE * size:
        return None
    return f"syntax errors cover {100 * covered // size}% of the file (first near line {first}); partial analysis"


def count_lines(text: bytes) -> int:
    if not text:
        return 0
    return text.count(b"\n") + (0 if text.endswith(b"\n") else 1)


class Visitor:
    """What every language's visitor keeps while it walks one file: the file's context, the package the
    file declares (where the language has packages) and whether it defines the program's entry point."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.package: str | None = None
        self.has_main = False


def open_file(grammar: Grammar, text: bytes) -> FileContext:
    """Parse once; everything else reads this one tree."""
    tree = parser(grammar.name).parse(text)
    return FileContext(grammar=grammar, source=text, root=tree.root_node, line_count=count_lines(text))


def safely(name: str, analyse: Callable[[bytes], FileAnalysis]) -> Callable[[bytes], FileAnalysis]:
    """Wrap an analyser so that no input, however broken, raises: the scan must go on to the next file."""

    def guarded(text: bytes) -> FileAnalysis:
        try:
            return analyse(text)
        except Exception as exc:  # an analyser bug must not stop the whole code map
            return FileAnalysis(error=f"{name} analyser failed: {type(exc).__name__}: {exc}")

    guarded.__name__ = f"analyse_{name}"
    guarded.__doc__ = analyse.__doc__
    return guarded

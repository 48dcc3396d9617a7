"""Rust: items, `impl`/trait methods, `use` trees, `mod` declarations, and the module-file rules.

Conventions:

- a method's qualname is the implementing type (`Server.new`), also in `impl Trait for Server`;
  trait items are methods of the trait; inline `mod x { … }` adds nothing to qualnames (a module is
  not a type) but is walked;
- `use a::b::{C, d::E as F}` gives one import per path prefix, with the imported names as written
  before any `as`: (`a::b`, (C,)) and (`a::b::d`, (E,)); a glob is the name `*`;
- `mod foo;` is the import `mod:foo` (inside inline `mod a { mod foo; }`: `mod:a::foo`), resolved to
  `foo.rs` or `foo/mod.rs` beside the declaring module by Rust's rules;
- only `///` and `/** */` docs count for items, `//!` at the top of the file for the module;
  `fn main` at the top level makes an entry point.
"""

from __future__ import annotations

from posixpath import basename, dirname

from tree_sitter import Node

from fondation.codemap.languages.base import LanguageSupport, RepoIndex
from fondation.codemap.languages.treesitter import (
    FileContext,
    Grammar,
    Scope,
    Visitor,
    bare_type_name,
    clean_doc,
    first_named,
    open_file,
    safely,
    walk,
)
from fondation.codemap.model import FileAnalysis, RawImport, SymbolKind


def _is_doc(text: str) -> bool:
    return (text.startswith("///") and not text.startswith("////")) or (
        text.startswith("/**") and not text.startswith("/***")
    )


GRAMMAR = Grammar(
    name="rust",
    comments=("line_comment", "block_comment"),
    is_doc=_is_doc,
    prefix_types=frozenset({"attribute_item"}),
)

MOD_PREFIX = "mod:"

_ITEMS = {
    "struct_item": SymbolKind.STRUCT,
    "union_item": SymbolKind.STRUCT,
    "enum_item": SymbolKind.ENUM,
    "trait_item": SymbolKind.TRAIT,
    "type_item": SymbolKind.TYPE,
    "const_item": SymbolKind.CONSTANT,
    "static_item": SymbolKind.CONSTANT,
}
#: Files whose `mod foo;` looks for `foo.rs` beside them rather than in a directory named after them.
_MOD_RS_FILES = {"mod.rs", "lib.rs", "main.rs", "build.rs"}
_CRATE_ROOT_DIRS = {"bin", "examples", "tests", "benches"}


class _Visitor(Visitor):
    """Items to symbols, `use`/`mod` to imports; `scope` holds the type names for qualnames."""

    def __call__(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        ctx, kind = self.ctx, node.type
        if kind in ("source_file", "ERROR", "declaration_list"):
            return [(child, scope) for child in node.named_children]
        if kind in _ITEMS:
            name = ctx.field_text(node, "name")
            body = node.child_by_field_name("body")
            ctx.add(name, _ITEMS[kind], scope, node, body=body)
            if kind == "trait_item" and body is not None and name:
                return [(child, (*scope, name)) for child in body.named_children]
        elif kind in ("function_item", "function_signature_item"):
            name = ctx.field_text(node, "name")
            body = node.child_by_field_name("body")
            ctx.add(name, SymbolKind.METHOD if scope else SymbolKind.FUNCTION, scope, node, body=body)
            if name == "main" and not scope and node.parent is not None and node.parent.type == "source_file":
                self.has_main = True
        elif kind == "impl_item":
            owner = bare_type_name(ctx.field_text(node, "type"))
            body = node.child_by_field_name("body")
            if body is not None:
                return [(child, (owner,) if owner else scope) for child in body.named_children]
        elif kind == "mod_item":
            return self._module(node, scope)
        elif kind == "use_declaration":
            argument = node.child_by_field_name("argument")
            if argument is not None:
                for prefix, names in _use_paths(ctx, argument):
                    ctx.add_import(prefix, node, names)
        return None

    def _module(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        """`mod x;` is an import; an inline module is walked unless it is `#[cfg(test)]` unit tests."""
        name = self.ctx.field_text(node, "name")
        body = node.child_by_field_name("body")
        if body is None:
            self.ctx.add_import(MOD_PREFIX + "::".join((*self._inline_parents(node), name)), node)
            return None
        previous = node.prev_named_sibling
        while previous is not None and previous.type == "attribute_item":
            if "".join(self.ctx.text(previous).split()) == "#[cfg(test)]":
                return None
            previous = previous.prev_named_sibling
        return [(child, scope) for child in body.named_children]

    def _inline_parents(self, node: Node) -> tuple[str, ...]:
        names: list[str] = []
        parent = node.parent
        while parent is not None:
            if parent.type == "mod_item":
                names.append(self.ctx.field_text(parent, "name"))
            parent = parent.parent
        return tuple(reversed(names))


def _use_paths(ctx: FileContext, argument: Node) -> list[tuple[str, tuple[str, ...]]]:
    """Flatten a `use` tree to (module path, names) pairs, grouping names under their common prefix."""
    grouped: dict[str, list[str]] = {}
    stack: list[tuple[str, Node]] = [("", argument)]
    while stack:
        prefix, node = stack.pop()
        kind = node.type
        if kind == "scoped_use_list":
            path = _join(prefix, ctx.field_text(node, "path"))
            listing = node.child_by_field_name("list")
            if listing is not None:
                stack.extend((path, child) for child in reversed(listing.named_children))
        elif kind == "use_list":
            stack.extend((prefix, child) for child in reversed(node.named_children))
        elif kind == "use_wildcard":
            inner = first_named(node)
            grouped.setdefault(_join(prefix, ctx.text(inner)), []).append("*")
        elif kind == "use_as_clause":
            head, _, name = _join(prefix, ctx.field_text(node, "path")).rpartition("::")
            grouped.setdefault(head, []).append(name)
        elif kind in ("scoped_identifier", "identifier", "self", "crate", "super"):
            head, _, name = _join(prefix, ctx.text(node)).rpartition("::")
            grouped.setdefault(head if head else name, []).append(name if head else "self")
    return [(path.removeprefix("::"), tuple(names)) for path, names in grouped.items()]


def _join(prefix: str, path: str) -> str:
    path = "".join(path.split())
    return f"{prefix}::{path}" if prefix and path else prefix or path


def analyse(text: bytes) -> FileAnalysis:
    """Items with `///` docs, `use`/`mod` imports, the `//!` module doc; no package (Cargo.toml names crates)."""
    ctx = open_file(GRAMMAR, text)
    visitor = _Visitor(ctx)
    walk(ctx.root, visitor)
    return ctx.finish(has_main=visitor.has_main, doc=_inner_doc(ctx))


def _inner_doc(ctx: FileContext) -> str:
    """The module's own doc: the `//!` (or `/*! */`) comments that open the file."""
    found: list[str] = []
    for child in ctx.root.children:
        if child.type not in GRAMMAR.comments:
            break
        text = ctx.text(child).strip()
        if text.startswith(("//!", "/*!")):
            found.append(text)
        elif found:
            break
    return clean_doc(found)


def _children_dir(path: str) -> str:
    """The directory where the module defined by `path` keeps its submodules (Rust 2018 rules)."""
    directory = dirname(path)
    if basename(path) in _MOD_RS_FILES or basename(directory) in _CRATE_ROOT_DIRS:
        return directory
    return path.removesuffix(".rs")


def _module_file(directory: str, index: RepoIndex, *, root: bool = False) -> str | None:
    """The file of the module whose submodules live in `directory`: `dir.rs` or `dir/mod.rs`.

    With `root`, a crate's `src` directory also answers with its `lib.rs` or `main.rs`.
    """
    candidates = [f"{directory}.rs", f"{directory}/mod.rs"]
    if root and basename(directory) == "src":
        candidates += [f"{directory}/lib.rs", f"{directory}/main.rs"]
    return next((c for c in candidates if c in index.paths), None)


def _crate_dir(importer: str, index: RepoIndex) -> str | None:
    """The nearest enclosing `src` directory with a `lib.rs` or `main.rs`: where `crate::` starts."""
    directory = dirname(importer)
    while True:
        if basename(directory) == "src" and _module_file(directory, index, root=True) is not None:
            return directory
        if not directory:
            return None
        directory = dirname(directory)


def _find(start: str, segments: list[str], index: RepoIndex) -> str | None:
    """The deepest module file along `segments` under `start` (longest module path first)."""
    for depth in range(len(segments), 0, -1):
        found = _module_file("/".join(filter(None, (start, *segments[:depth]))), index)
        if found is not None:
            return found
    return None


def _base(segments: list[str], importer: str, index: RepoIndex) -> tuple[str | None, str | None, list[str]]:
    """Where a `use` path starts (directory), which file its own module is, and the segments left."""
    head = segments[0]
    if head == "crate":
        start = _crate_dir(importer, index)
        if start is None:
            return None, None, []
        own = importer if importer == f"{start}/main.rs" else _module_file(start, index, root=True)
        return start, own, segments[1:]
    start = _children_dir(importer)
    if head not in ("self", "super"):
        # Rust 2018 uniform paths: `use config::Settings` after `mod config;` names a child module.
        return start, None, segments
    own: str | None = importer
    while segments and segments[0] in ("self", "super"):
        if segments.pop(0) == "super":
            start = dirname(start)
            own = _module_file(start, index, root=True)
    return start, own, segments


def resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]:
    """`mod foo;` to its file; `use` paths to the deepest module file that exists, else their own module."""
    target = imported.target
    if target.startswith(MOD_PREFIX):
        segments = target[len(MOD_PREFIX) :].split("::")
        found = _module_file("/".join(filter(None, (_children_dir(importer), *segments))), index)
        return (found,) if found is not None and found != importer else ()
    segments = [s for s in target.split("::") if s]
    if not segments:
        return ()
    start, own, segments = _base(segments, importer, index)
    if start is None:
        return ()
    results: set[str] = set()
    for name in [n for n in imported.names if n not in ("*", "self")] or [""]:
        found = _find(start, [*segments, name] if name else segments, index) or own
        if found is not None and found != importer:
            results.add(found)
    return tuple(sorted(results))


RUST = LanguageSupport(analyse=safely("rust", analyse), resolve=resolve)

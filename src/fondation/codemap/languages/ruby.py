"""Ruby: classes, modules, methods, constants, `require`s, and load-path resolution.

A module is recorded as a trait (the closest kind: a named mixin that cannot be instantiated) and,
like a class, names its members: `Acme::Server#start` is `Acme.Server.start`, and `class A::B` is
`A.B`. `def self.x` and the methods of `class << self` are methods of the enclosing class; a `def`
outside any class or module is a function. UPPER_CASE constant assignments are constants.
`require`/`require_relative`/`load` calls with a plain string anywhere in the file are imports,
their target as written; `has_main` is an `if __FILE__ == $0` (or `$PROGRAM_NAME`) guard.
"""

from __future__ import annotations

import re
from posixpath import dirname

from tree_sitter import Node

from fondation.codemap.languages.base import LanguageSupport, RepoIndex
from fondation.codemap.languages.path_lookup import PathLookup
from fondation.codemap.languages.treesitter import (
    FileContext,
    Grammar,
    Scope,
    captures,
    open_file,
    relative_path,
    safely,
    string_value,
    walk,
)
from fondation.codemap.model import FileAnalysis, RawImport, SymbolKind

GRAMMAR = Grammar(
    name="ruby",
    comments=("comment",),
    is_doc=lambda text: text.startswith("#") and not text.startswith(("#!", "# frozen_string_literal", "# -*-")),
)

#: Which call an import came from is kept as the first name: `require_relative` resolves differently.
REQUIRES = ("require", "require_relative", "load", "autoload")

_REQUIRE_QUERY = """
((call method: (identifier) @method arguments: (argument_list . (string) @path .))
  (#any-of? @method "require" "require_relative" "load"))
((call method: (identifier) @method arguments: (argument_list . (simple_symbol) (string) @path .))
  (#eq? @method "autoload"))
"""
_MAIN_GUARD = re.compile(rb"__FILE__\s*==\s*\$(?:0|PROGRAM_NAME)|\$(?:0|PROGRAM_NAME)\s*==\s*__FILE__")


class _Visitor:
    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    def __call__(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        ctx, kind = self.ctx, node.type
        if kind in ("program", "ERROR", "body_statement"):
            return [(child, scope) for child in node.named_children]
        if kind in ("class", "module"):
            path = [part for part in ctx.field_text(node, "name").split("::") if part]
            if not path:
                return None
            name = path[-1]
            owner = (*scope, *path[:-1])
            symbol_kind = SymbolKind.CLASS if kind == "class" else SymbolKind.TRAIT
            header_end = _header_end(node)
            ctx.add(name, symbol_kind, owner, node, sig_end=header_end)
            return [(child, (*owner, name)) for child in node.named_children if child.type == "body_statement"]
        if kind == "singleton_class":
            body = node.child_by_field_name("body")
            return [(body, scope)] if body is not None else None
        if kind in ("method", "singleton_method"):
            name = ctx.field_text(node, "name")
            symbol_kind = SymbolKind.METHOD if scope else SymbolKind.FUNCTION
            ctx.add(name, symbol_kind, scope, node, sig_end=_header_end(node))
        elif kind == "assignment":
            left = node.child_by_field_name("left")
            if left is not None and left.type == "constant":
                ctx.add(ctx.text(left), SymbolKind.CONSTANT, scope, node)
        return None


def _header_end(node: Node) -> int:
    """A Ruby definition has no braces: its header ends where the parameters (or the name) end."""
    end = node.start_byte
    for field in ("name", "superclass", "parameters"):
        child = node.child_by_field_name(field)
        if child is not None:
            end = max(end, child.end_byte)
    return end


def analyse(text: bytes) -> FileAnalysis:
    """Symbols, `require`s (names = the requiring method), no package."""
    ctx = open_file(GRAMMAR, text)
    walk(ctx.root, _Visitor(ctx))
    for path in captures("ruby", _REQUIRE_QUERY, ctx.root).get("path", []):
        call = path.parent.parent if path.parent is not None else None
        method = call.child_by_field_name("method") if call is not None else None
        target = string_value(ctx.text(path))
        if target and "#{" not in target:
            ctx.add_import(target, path, (ctx.text(method),))
    ctx.imports.sort(key=lambda item: item.line)
    return ctx.finish(has_main=_MAIN_GUARD.search(text) is not None)


def resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]:
    """`require_relative` beside the importer; `require 'x/y'` as `lib/x/y.rb`, then a unique `…/lib/x/y.rb`."""
    target = imported.target
    path = target if target.endswith(".rb") else target + ".rb"
    relative = imported.names[:1] == ("require_relative",) or target.startswith(("./", "../"))
    if relative:
        found = relative_path(dirname(importer), path)
        return (found,) if found in index.paths else ()
    for candidate in (f"lib/{path}", path):
        if candidate in index.paths:
            return (candidate,)
    matches = [p for p in PathLookup.of(index).with_suffix(f"lib/{path}") if p != importer]
    return (matches[0],) if len(matches) == 1 else ()


RUBY = LanguageSupport(analyse=safely("ruby", analyse), resolve=resolve)

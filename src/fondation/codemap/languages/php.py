"""PHP: classes, interfaces, traits, enums, functions, methods, constants, namespace, imports.

Imports are `use A\\B\\C;` (a group `use A\\{B, C}` gives one import per class, fully qualified)
and `require`/`include`(`_once`) of a string literal, or of `__DIR__ . '/x.php'`, whose target is
then written `__DIR__/x.php`. `use` resolves PSR-4 style: a file declaring namespace `A\\B` whose
stem is `C`; a relative include resolves beside the importer, then from the repository root.
"""

from __future__ import annotations

from posixpath import dirname

from tree_sitter import Node

from fondation.codemap.languages.base import LanguageSupport, RepoIndex
from fondation.codemap.languages.treesitter import (
    FileContext,
    Grammar,
    Scope,
    Visitor,
    captures,
    first_named,
    open_file,
    relative_path,
    safely,
    string_value,
    walk,
)
from fondation.codemap.model import FileAnalysis, RawImport, SymbolKind

GRAMMAR = Grammar(
    name="php",
    comments=("comment",),
    is_doc=lambda text: text.startswith("/**") and not text.startswith("/***"),
    annotation_types=frozenset({"attribute_list"}),
)

DIR_PREFIX = "__DIR__"

_TYPES = {
    "class_declaration": SymbolKind.CLASS,
    "interface_declaration": SymbolKind.INTERFACE,
    "trait_declaration": SymbolKind.TRAIT,
    "enum_declaration": SymbolKind.ENUM,
}
_INCLUDE_QUERY = """
[(require_expression) (require_once_expression) (include_expression) (include_once_expression)] @include
"""


class _Visitor(Visitor):
    def __call__(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        ctx, kind = self.ctx, node.type
        if kind in ("program", "ERROR", "declaration_list", "enum_declaration_list", "compound_statement"):
            return [(child, scope) for child in node.named_children]
        if kind == "namespace_definition":
            if self.package is None:
                self.package = ctx.field_text(node, "name").strip("\\") or None
            body = node.child_by_field_name("body")
            return [(body, scope)] if body is not None else None
        if kind == "namespace_use_declaration":
            self._use(node)
        elif kind in _TYPES:
            name = ctx.field_text(node, "name")
            body = node.child_by_field_name("body")
            ctx.add(name, _TYPES[kind], scope, node, body=body)
            if body is not None and name:
                return [(body, (*scope, name))]
        elif kind in ("function_definition", "method_declaration"):
            body = node.child_by_field_name("body")
            symbol_kind = SymbolKind.METHOD if scope else SymbolKind.FUNCTION
            sig_end = None if body else node.end_byte
            ctx.add(ctx.field_text(node, "name"), symbol_kind, scope, node, body=body, sig_end=sig_end)
        elif kind == "const_declaration":
            for element in node.named_children:
                if element.type == "const_element":
                    name = next((c for c in element.named_children if c.type == "name"), None)
                    ctx.add(ctx.text(name), SymbolKind.CONSTANT, scope, node)
        return None

    def _use(self, node: Node) -> None:
        ctx = self.ctx
        prefix = next((ctx.text(c) for c in node.named_children if c.type == "namespace_name"), "")
        group = node.child_by_field_name("body")
        clauses = group.named_children if group is not None else node.named_children
        for clause in clauses:
            if clause.type != "namespace_use_clause":
                continue
            target = next((c for c in clause.named_children if c.type in ("qualified_name", "name")), None)
            written = ctx.text(target)
            full = f"{prefix}\\{written}" if prefix else written
            ctx.add_import(full.strip("\\"), node)


def _include_target(ctx: FileContext, node: Node) -> str:
    """The path an include names, when it is a literal or `__DIR__ . 'literal'`."""
    argument = first_named(node)
    while argument is not None and argument.type == "parenthesized_expression":
        argument = first_named(argument)
    if argument is None:
        return ""
    if argument.type in ("string", "encapsed_string"):
        return _literal(ctx, argument)
    if argument.type == "binary_expression":
        left, right = argument.child_by_field_name("left"), argument.child_by_field_name("right")
        if left is not None and right is not None and ctx.text(left) in (DIR_PREFIX, "dirname(__FILE__)"):
            literal = _literal(ctx, right)
            return f"{DIR_PREFIX}/{literal.lstrip('/')}" if literal else ""
    return ""


def _literal(ctx: FileContext, node: Node) -> str:
    if node.type == "encapsed_string" and any(c.type != "string_content" for c in node.named_children):
        return ""  # interpolated: not a fixed path
    return string_value(ctx.text(node))


def analyse(text: bytes) -> FileAnalysis:
    """Symbols, `use` and include imports, the first namespace; PHP has no `main`."""
    ctx = open_file(GRAMMAR, text)
    visitor = _Visitor(ctx)
    walk(ctx.root, visitor)
    for node in captures("php", _INCLUDE_QUERY, ctx.root).get("include", []):
        ctx.add_import(_include_target(ctx, node), node)
    ctx.imports.sort(key=lambda item: item.line)
    return ctx.finish(package=visitor.package)


def resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]:
    """Includes by path (importer's directory, then the root); `use` by namespace and file stem."""
    target = imported.target
    if target.startswith(DIR_PREFIX + "/"):
        found = relative_path(dirname(importer), target[len(DIR_PREFIX) + 1 :])
        return (found,) if found in index.paths else ()
    if "/" in target or target.endswith(".php"):
        for base in (dirname(importer), ""):
            found = relative_path(base, target.lstrip("/"))
            if found in index.paths and found != importer:
                return (found,)
        return ()
    namespace, _, name = target.rpartition("\\")
    files = index.packages.get(("php", namespace), ())
    return tuple(sorted(f for f in files if f.rsplit("/", 1)[-1].removesuffix(".php") == name and f != importer))


PHP = LanguageSupport(analyse=safely("php", analyse), resolve=resolve)

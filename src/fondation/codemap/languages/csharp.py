"""C#: types and members, `using` directives, the file's namespace, and namespace-based resolution.

Classes and records are classes (`record struct` a struct), delegates are types; methods,
constructors and operators are methods; `const` and `static readonly` fields are constants. Docs
are `///` XML comments, of which the `<summary>` is kept. The package is the first namespace
declared (block or file-scoped), nested namespaces joined with dots.
"""

from __future__ import annotations

from tree_sitter import Node

from fondation.codemap.languages.base import LanguageSupport, RepoIndex
from fondation.codemap.languages.treesitter import (
    Grammar,
    Scope,
    Visitor,
    open_file,
    safely,
    walk,
)
from fondation.codemap.model import FileAnalysis, RawImport, SymbolKind

GRAMMAR = Grammar(
    name="csharp",
    comments=("comment",),
    is_doc=lambda text: text.startswith("///") or (text.startswith("/**") and not text.startswith("/***")),
    annotation_types=frozenset({"attribute_list"}),
)

_TYPES = {
    "class_declaration": SymbolKind.CLASS,
    "record_declaration": SymbolKind.CLASS,
    "record_struct_declaration": SymbolKind.STRUCT,
    "struct_declaration": SymbolKind.STRUCT,
    "interface_declaration": SymbolKind.INTERFACE,
    "enum_declaration": SymbolKind.ENUM,
    "delegate_declaration": SymbolKind.TYPE,
}
_METHODS = {
    "method_declaration",
    "constructor_declaration",
    "destructor_declaration",
    "operator_declaration",
}


class _Visitor(Visitor):
    def __call__(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        ctx, kind = self.ctx, node.type
        if kind in ("compilation_unit", "ERROR", "declaration_list"):
            return [(child, scope) for child in node.named_children]
        if kind in ("namespace_declaration", "file_scoped_namespace_declaration"):
            self._namespace(node)
            body = node.child_by_field_name("body")
            return [(body, scope)] if body is not None else None
        if kind == "using_directive":
            self._using(node)
        elif kind in _TYPES:
            name = ctx.field_text(node, "name")
            body = node.child_by_field_name("body") or _child(node, "declaration_list")
            ctx.add(name, _TYPES[kind], scope, node, body=body, sig_end=None if body else node.end_byte)
            if body is not None and name and kind != "enum_declaration":
                return [(body, (*scope, name))]
        elif kind in _METHODS and scope:
            self._method(node, scope)
        elif kind == "field_declaration" and scope:
            modifiers = {ctx.text(c) for c in node.children if c.type == "modifier"}
            if "const" in modifiers or {"static", "readonly"} <= modifiers:
                declaration = _child(node, "variable_declaration")
                for declarator in declaration.named_children if declaration else ():
                    if declarator.type == "variable_declarator":
                        ctx.add(ctx.field_text(declarator, "name"), SymbolKind.CONSTANT, scope, node)
        return None

    def _method(self, node: Node, scope: Scope) -> None:
        ctx = self.ctx
        name = ctx.field_text(node, "name") or ctx.text(_child(node, "identifier"))
        if node.type == "operator_declaration":
            name = "operator " + ctx.field_text(node, "operator")
        body = node.child_by_field_name("body") or _child(node, "block", "arrow_expression_clause")
        ctx.add(name, SymbolKind.METHOD, scope, node, body=body, sig_end=None if body else node.end_byte)
        if name == "Main" and node.type == "method_declaration":
            modifiers = {ctx.text(c) for c in node.children if c.type == "modifier"}
            self.has_main = self.has_main or "static" in modifiers

    def _namespace(self, node: Node) -> None:
        name = "".join(self.ctx.field_text(node, "name").split())
        parent = node.parent
        while parent is not None:
            if parent.type == "namespace_declaration":
                name = "".join(self.ctx.field_text(parent, "name").split()) + "." + name
            parent = parent.parent
        if self.package is None and name:
            self.package = name

    def _using(self, node: Node) -> None:
        """`using A.B;`, `using static A.B.C;`, `using X = A.B.C;` → the written target (`A.B`, `A.B.C`)."""
        ctx = self.ctx
        alias = node.child_by_field_name("name")
        target = next(
            (c for c in node.named_children if c.type in ("qualified_name", "identifier") and c != alias),
            None,
        )
        names = (ctx.text(alias),) if alias is not None else ()
        ctx.add_import("".join(ctx.text(target).split()), node, names)


def _child(node: Node, *types: str) -> Node | None:
    return next((c for c in node.named_children if c.type in types), None)


def analyse(text: bytes) -> FileAnalysis:
    """`has_main` is a `static` `Main` method (sync or async)."""
    ctx = open_file(GRAMMAR, text)
    visitor = _Visitor(ctx)
    walk(ctx.root, visitor)
    return ctx.finish(package=visitor.package, has_main=visitor.has_main)


def resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]:
    """`using A.B;` → files declaring namespace `A.B`; a type (`using static A.B.C`) → `C.cs` of `A.B`."""
    target = imported.target
    files = index.packages.get(("csharp", target), ())
    if not files and "." in target:
        namespace, _, name = target.rpartition(".")
        files = tuple(
            f for f in index.packages.get(("csharp", namespace), ()) if f.rsplit("/", 1)[-1].split(".")[0] == name
        )
    return tuple(sorted(f for f in files if f != importer))


CSHARP = LanguageSupport(analyse=safely("csharp", analyse), resolve=resolve)

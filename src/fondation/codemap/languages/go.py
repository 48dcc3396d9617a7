"""Go: types, functions, methods (qualified by their receiver type), constants, imports, package.

A method's qualname is `Receiver.Method` although Go declares it outside the type, because that is
how a reader looks it up; interface methods are methods of the interface. Only `const` makes a
constant (a `var` is state, not a constant). An import resolves through the root `go.mod` module
path to the non-test files of the package directory.
"""

from __future__ import annotations

from tree_sitter import Node

from fondation.codemap.languages.base import LanguageSupport, RepoIndex
from fondation.codemap.languages.treesitter import (
    FileContext,
    Grammar,
    Scope,
    Visitor,
    bare_type_name,
    first_named,
    has_token,
    open_file,
    safely,
    string_value,
    walk,
)
from fondation.codemap.model import FileAnalysis, RawImport, SymbolKind

GRAMMAR = Grammar(name="go", comments=("comment",), is_doc=lambda text: True)

_TYPE_KINDS = {"struct_type": SymbolKind.STRUCT, "interface_type": SymbolKind.INTERFACE}


class _Visitor(Visitor):
    def __init__(self, ctx: FileContext) -> None:
        super().__init__(ctx)
        self.package_doc = ""
        self.has_main_func = False

    def __call__(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        ctx, kind = self.ctx, node.type
        if kind in ("source_file", "ERROR"):
            return [(child, scope) for child in node.named_children]
        if kind == "package_clause" and self.package is None:
            ident = first_named(node)
            self.package = ctx.text(ident) if ident is not None else None
            self.package_doc = ctx.doc(node)
        elif kind == "import_declaration":
            self._imports(node)
        elif kind == "function_declaration":
            name = ctx.field_text(node, "name")
            ctx.add(name, SymbolKind.FUNCTION, (), node, body=node.child_by_field_name("body"))
            self.has_main_func = self.has_main_func or name == "main"
        elif kind == "method_declaration":
            receiver = ctx.text(node.child_by_field_name("receiver")).strip("()")
            owner = bare_type_name(receiver.split()[-1] if receiver.split() else "")
            ctx.add(
                ctx.field_text(node, "name"),
                SymbolKind.METHOD,
                (owner,) if owner else (),
                node,
                body=node.child_by_field_name("body"),
            )
        elif kind == "type_declaration":
            self._types(node)
        elif kind == "const_declaration":
            grouped = has_token(node, "(")
            for spec in node.named_children:
                if spec.type != "const_spec":
                    continue
                outer = spec if grouped else node
                for name in spec.children_by_field_name("name"):
                    ctx.add(ctx.text(name), SymbolKind.CONSTANT, (), spec, outer=outer)
        return None

    def _types(self, node: Node) -> None:
        ctx = self.ctx
        grouped = has_token(node, "(")
        for spec in node.named_children:
            if spec.type not in ("type_spec", "type_alias"):
                continue
            outer = spec if grouped else node
            name = ctx.field_text(spec, "name")
            shape = spec.child_by_field_name("type")
            kind = _TYPE_KINDS.get(shape.type if shape is not None else "", SymbolKind.TYPE)
            sig_end = _brace(ctx, shape) if kind in (SymbolKind.STRUCT, SymbolKind.INTERFACE) else None
            ctx.add(name, kind, (), spec, outer=outer, sig_end=sig_end)
            if kind is SymbolKind.INTERFACE and shape is not None and name:
                for elem in shape.named_children:
                    if elem.type == "method_elem":
                        ctx.add(ctx.field_text(elem, "name"), SymbolKind.METHOD, (name,), elem, sig_end=elem.end_byte)

    def _imports(self, node: Node) -> None:
        specs = [node]
        while specs:
            current = specs.pop()
            for child in current.named_children:
                if child.type == "import_spec":
                    path = string_value(self.ctx.field_text(child, "path"))
                    alias = self.ctx.field_text(child, "name")
                    self.ctx.add_import(path, child, (alias,) if alias else ())
                elif child.type == "import_spec_list":
                    specs.append(child)


def _brace(ctx: FileContext, node: Node | None) -> int | None:
    """Where a `struct {`/`interface {` header ends: the signature keeps the keyword, not the members."""
    if node is None:
        return None
    brace = ctx.source.find(b"{", node.start_byte, node.end_byte)
    return node.end_byte if brace < 0 else brace


def analyse(text: bytes) -> FileAnalysis:
    """Symbols, imports (one per path), package clause and its doc; `has_main` is `func main` in `package main`."""
    ctx = open_file(GRAMMAR, text)
    visitor = _Visitor(ctx)
    walk(ctx.root, visitor)
    has_main = visitor.package == "main" and visitor.has_main_func
    return ctx.finish(package=visitor.package, has_main=has_main, doc=visitor.package_doc)


def resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]:
    """`<module>/internal/db` → the non-test `.go` files of `internal/db`; other modules are outside."""
    module = index.go_module
    target = imported.target
    if not module:
        return ()
    if target == module:
        directory = ""
    elif target.startswith(module + "/"):
        directory = target[len(module) + 1 :]
    else:
        return ()
    files = index.by_dir.get(directory, ())
    return tuple(
        sorted(
            path
            for path in files
            if path.endswith(".go") and not path.endswith("_test.go") and index.languages.get(path) == "go"
        )
    )


GO = LanguageSupport(analyse=safely("go", analyse), resolve=resolve)

"""JavaScript, TypeScript and TSX: one analyser over three grammars, one resolver for all of them.

The grammars share their declaration nodes (TypeScript adds interfaces, type aliases, enums,
namespaces and ambient declarations), so one visitor serves the three; `.jsx` is JavaScript, whose
grammar reads JSX.

Symbols: classes (and their methods and arrow-function fields), functions, interfaces, type aliases,
enums; a top-level `const` is a function when it holds an arrow function or function expression, a
constant when it is exported or named in UPPER_CASE. Imports: `import … from`, `export … from`,
`require('x')` and `import('x')` with a string literal, wherever they are.
"""

from __future__ import annotations

from posixpath import dirname

from tree_sitter import Node

from fondation.codemap.languages.base import LanguageSupport, RepoIndex
from fondation.codemap.languages.treesitter import (
    FileContext,
    Grammar,
    Scope,
    captures,
    child_of_type,
    first_named,
    named_children,
    open_file,
    relative_path,
    safely,
    string_value,
    upper_case,
    walk,
)
from fondation.codemap.model import FileAnalysis, RawImport, SymbolKind

#: Extensions tried, in order, after a relative specifier (then the same after `/index`).
EXTENSIONS = ("", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts", ".mts", ".cts")
#: TypeScript's ESM convention: `import './util.js'` names the compiled file of `util.ts`.
_COMPILED = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}

_CALL_QUERY = """
((call_expression function: (identifier) @fn arguments: (arguments . (string) @source))
  (#eq? @fn "require"))
(call_expression function: (import) arguments: (arguments . (string) @source))
"""

_TYPES = {
    "class_declaration": SymbolKind.CLASS,
    "abstract_class_declaration": SymbolKind.CLASS,
    "class": SymbolKind.CLASS,
    "interface_declaration": SymbolKind.INTERFACE,
    "enum_declaration": SymbolKind.ENUM,
    "type_alias_declaration": SymbolKind.TYPE,
}
_FUNCTIONS = {"function_declaration", "generator_function_declaration", "function_signature"}
_FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}
_MEMBERS = {"method_definition", "method_signature", "abstract_method_signature"}
_FIELDS = {"public_field_definition", "field_definition"}
_PASS_THROUGH = {"program", "ERROR", "ambient_declaration", "statement_block", "expression_statement"}


def _grammar(name: str) -> Grammar:
    return Grammar(
        name=name,
        comments=("comment",),
        is_doc=lambda text: text.startswith("/**") and not text.startswith("/***"),
        prefix_types=frozenset({"decorator"}),
        annotation_types=frozenset({"decorator"}),
    )


GRAMMARS = {name: _grammar(name) for name in ("javascript", "typescript", "tsx")}


class _Visitor:
    """Turns declaration nodes into symbols; `outer` carries an enclosing `export` for span and doc."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    def __call__(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        kind = node.type
        if kind in _PASS_THROUGH:
            return named_children(node, scope)
        if kind in ("internal_module", "module"):
            body = node.child_by_field_name("body")
            return [(body, scope)] if body is not None else None
        if kind == "export_statement":
            return self._export(node, scope)
        if kind == "import_statement":
            self._import(node)
            return None
        return self._declaration(node, scope, node, top=not scope)

    def _export(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        source = node.child_by_field_name("source")
        if source is not None:
            self._import(node)
            return None
        inner = node.child_by_field_name("declaration") or node.child_by_field_name("value")
        if inner is not None and inner.type == "ambient_declaration":  # `export declare function f(): T;`
            inner = first_named(inner)
        if inner is None:
            return None
        if inner.type in ("internal_module", "module"):
            return [(inner, scope)]
        return self._declaration(inner, scope, node, top=not scope, exported=True)

    def _declaration(
        self, node: Node, scope: Scope, outer: Node, *, top: bool, exported: bool = False
    ) -> list[tuple[Node, Scope]] | None:
        ctx, kind = self.ctx, node.type
        if kind in _TYPES:
            name = ctx.field_text(node, "name")
            body = node.child_by_field_name("body")
            ctx.add(name, _TYPES[kind], scope, node, body=body, outer=outer)
            if name and body is not None and kind != "enum_declaration":
                return [(member, (*scope, name)) for member in body.named_children]
            return None
        if kind in _FUNCTIONS:
            ctx.add(
                ctx.field_text(node, "name"),
                SymbolKind.FUNCTION,
                scope,
                node,
                body=node.child_by_field_name("body"),
                outer=outer,
                sig_end=None if kind != "function_signature" else node.end_byte,
                declaration=kind == "function_signature",
            )
        elif kind in _MEMBERS and scope:
            ctx.add(
                ctx.field_text(node, "name"),
                SymbolKind.METHOD,
                scope,
                node,
                body=node.child_by_field_name("body"),
                outer=outer,
                sig_end=None if kind == "method_definition" else node.end_byte,
            )
        elif kind in _FIELDS and scope:
            value = node.child_by_field_name("value")
            if value is not None and value.type in _FUNCTION_VALUES:
                name_node = node.child_by_field_name("name") or node.child_by_field_name("property")
                ctx.add(ctx.text(name_node), SymbolKind.METHOD, scope, node, body=value.child_by_field_name("body"))
        elif kind == "lexical_declaration" and top:
            self._constants(node, outer, exported)
        elif kind == "assignment_expression" and top:
            self._assigned_function(node, outer)
        return None

    def _assigned_function(self, node: Node, outer: Node) -> None:
        """CommonJS and prototype style: `exports.f = function…`, `app.init = function…`, `A.prototype.m = …`.

        `exports.f` and `module.exports.f` are functions of the module; `owner.name` is a method of
        `owner` (with `prototype` dropped), which is how most JavaScript written before classes
        defines its API.
        """
        ctx = self.ctx
        left, value = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or value is None or left.type != "member_expression" or value.type not in _FUNCTION_VALUES:
            return
        path = ctx.text(left).split(".")
        if path == ["module", "exports"]:  # `module.exports = function name() {…}`: the function's own name
            path = ["exports", ctx.field_text(value, "name")]
        if not all(part.isidentifier() for part in path) or len(path) < 2:
            return
        owner = [part for part in path[:-1] if part != "prototype"]
        if owner in (["exports"], ["module", "exports"], ["module"]):
            owner = []
        body = value.child_by_field_name("body")
        kind = SymbolKind.METHOD if owner else SymbolKind.FUNCTION
        ctx.add(path[-1], kind, tuple(owner[-1:]), node, body=body, outer=outer)

    def _constants(self, node: Node, outer: Node, exported: bool) -> None:
        """`const f = () => …` is a function; an exported or UPPER_CASE `const` is a constant."""
        ctx = self.ctx
        if ctx.field_text(node, "kind") != "const":
            return
        for declarator in node.named_children:
            if declarator.type != "variable_declarator":
                continue
            name_node = declarator.child_by_field_name("name")
            if name_node is None or name_node.type != "identifier":
                continue
            name = ctx.text(name_node)
            value = declarator.child_by_field_name("value")
            span_node = node if len(node.named_children) == 1 else declarator
            head = outer if span_node is node else declarator
            if value is not None and value.type in _FUNCTION_VALUES:
                body = value.child_by_field_name("body")
                ctx.add(name, SymbolKind.FUNCTION, (), span_node, body=body, outer=head)
            elif exported or upper_case(name):
                ctx.add(name, SymbolKind.CONSTANT, (), span_node, outer=head)

    def _import(self, node: Node) -> None:
        """`import x, {a as b} from 'm'` → target 'm', names (x, a): the names as the module exports them."""
        ctx = self.ctx
        source = node.child_by_field_name("source")
        if source is None:  # `import x = require('m')`
            clause = child_of_type(node, "import_require_clause")
            source = clause.child_by_field_name("source") if clause is not None else None
        target = string_value(ctx.text(source))
        names: list[str] = []
        for clause in node.named_children:
            if clause.type == "import_clause":
                for part in clause.named_children:
                    if part.type == "identifier":
                        names.append("default")
                    elif part.type == "namespace_import":
                        names.append("*")
                    elif part.type == "named_imports":
                        names.extend(_specifier_names(ctx, part))
            elif clause.type == "export_clause":
                names.extend(_specifier_names(ctx, clause))
            elif clause.type == "namespace_export":
                names.append("*")
        if node.type == "export_statement" and not names:
            names.append("*")
        ctx.add_import(target, node, names)


def _specifier_names(ctx: FileContext, node: Node) -> list[str]:
    return [ctx.field_text(spec, "name") for spec in node.named_children if spec.child_by_field_name("name")]


def _analyse(grammar: Grammar, text: bytes) -> FileAnalysis:
    ctx = open_file(grammar, text)
    walk(ctx.root, _Visitor(ctx))
    found = captures(grammar.name, _CALL_QUERY, ctx.root).get("source", [])
    for node in found:
        ctx.add_import(string_value(ctx.text(node)), node)
    ctx.imports.sort(key=lambda item: item.line)
    return ctx.finish()


def resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]:
    """A relative specifier to the one file Node or a bundler would load; bare packages stay outside."""
    target = imported.target
    if not target.startswith(("./", "../")) and target not in (".", ".."):
        return ()
    base = relative_path(dirname(importer), target)
    if base is None:
        return ()
    candidates = [base + ext for ext in EXTENSIONS]
    for compiled, sources in _COMPILED.items():
        if base.endswith(compiled):
            stem = base[: -len(compiled)]
            candidates.extend(stem + ext for ext in sources)
    candidates.extend(f"{base}/index{ext}" for ext in EXTENSIONS if ext)
    for candidate in candidates:
        if candidate in index.paths:
            return (candidate,)
    return ()


def _support(name: str) -> LanguageSupport:
    grammar = GRAMMARS[name]

    def analyse(text: bytes) -> FileAnalysis:
        return _analyse(grammar, text)

    return LanguageSupport(analyse=safely(name, analyse), resolve=resolve)


JAVASCRIPT = _support("javascript")
TYPESCRIPT = _support("typescript")
TSX = _support("tsx")

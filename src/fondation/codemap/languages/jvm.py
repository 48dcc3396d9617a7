"""Java and Kotlin: types and members, package, imports, and package-based import resolution.

Java: classes, interfaces, enums, records (classes) and annotation types; methods and constructors;
`static final` fields are constants. Kotlin: classes, interfaces, enum classes, objects (classes),
type aliases; functions (methods inside a type, companion members qualified by the enclosing
class); `const val` and top-level UPPER_CASE `val` are constants. Docs are Javadoc/KDoc only.

Imports keep the written target (`a.b.C`, `a.b.*`, static `a.b.C.m`); resolution finds files of the
declared package in either JVM language: by file stem (one public class per Java file), then, for
Kotlin's many-declarations files, by a top-level symbol of that name.
"""

from __future__ import annotations

from tree_sitter import Node

from fondation.codemap.languages.base import LanguageSupport, RepoIndex
from fondation.codemap.languages.treesitter import (
    Grammar,
    Scope,
    Visitor,
    child_of_type,
    has_token,
    open_file,
    safely,
    upper_case,
    walk,
)
from fondation.codemap.model import FileAnalysis, RawImport, SymbolKind


def _javadoc(text: str) -> bool:
    return text.startswith("/**") and not text.startswith("/***")


_ANNOTATIONS = frozenset({"annotation", "marker_annotation"})
JAVA_GRAMMAR = Grammar(
    name="java", comments=("line_comment", "block_comment"), is_doc=_javadoc, annotation_types=_ANNOTATIONS
)
KOTLIN_GRAMMAR = Grammar(
    name="kotlin", comments=("line_comment", "multiline_comment"), is_doc=_javadoc, annotation_types=_ANNOTATIONS
)

_JAVA_TYPES = {
    "class_declaration": SymbolKind.CLASS,
    "record_declaration": SymbolKind.CLASS,
    "interface_declaration": SymbolKind.INTERFACE,
    "annotation_type_declaration": SymbolKind.INTERFACE,
    "enum_declaration": SymbolKind.ENUM,
}
_JAVA_BODIES = {"class_body", "interface_body", "enum_body", "enum_body_declarations", "annotation_type_body"}


class _JavaVisitor(Visitor):
    def __call__(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        ctx, kind = self.ctx, node.type
        if kind in ("program", "ERROR") or kind in _JAVA_BODIES:
            return [(child, scope) for child in node.named_children]
        if kind == "package_declaration" and self.package is None:
            self.package = "".join(ctx.text(node.named_children[-1]).split()) if node.named_children else None
        elif kind == "import_declaration":
            self._import(node)
        elif kind in _JAVA_TYPES:
            name = ctx.field_text(node, "name")
            body = node.child_by_field_name("body")
            ctx.add(name, _JAVA_TYPES[kind], scope, node, body=body)
            if body is not None and name:
                return [(body, (*scope, name))]
        elif kind in ("method_declaration", "constructor_declaration", "compact_constructor_declaration") and scope:
            name = ctx.field_text(node, "name")
            body = node.child_by_field_name("body")
            ctx.add(name, SymbolKind.METHOD, scope, node, body=body, sig_end=None if body else node.end_byte)
            if name == "main" and kind == "method_declaration" and self._is_main(node):
                self.has_main = True
        elif kind in ("field_declaration", "constant_declaration") and scope:
            modifiers = ctx.text(child_of_type(node, "modifiers")).split()
            if kind == "constant_declaration" or ("static" in modifiers and "final" in modifiers):
                for declarator in node.children_by_field_name("declarator"):
                    ctx.add(ctx.field_text(declarator, "name"), SymbolKind.CONSTANT, scope, node)
        return None

    def _is_main(self, node: Node) -> bool:
        modifiers = self.ctx.text(child_of_type(node, "modifiers"))
        return "static" in modifiers.split() and self.ctx.field_text(node, "type") == "void"

    def _import(self, node: Node) -> None:
        path = next((c for c in node.named_children if c.type in ("scoped_identifier", "identifier")), None)
        target = "".join(self.ctx.text(path).split())
        if child_of_type(node, "asterisk") is not None:
            target += ".*"
        self.ctx.add_import(target, node)


_KOTLIN_BODIES = {"class_body", "enum_class_body"}


class _KotlinVisitor(Visitor):
    def __call__(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        ctx, kind = self.ctx, node.type
        if kind in ("source_file", "ERROR", "import_list") or kind in _KOTLIN_BODIES:
            return [(child, scope) for child in node.named_children]
        if kind == "package_header" and self.package is None:
            self.package = "".join(ctx.text(child_of_type(node, "identifier", "qualified_identifier")).split())
        elif kind == "import_header":
            target = "".join(ctx.text(child_of_type(node, "identifier", "qualified_identifier")).split())
            ctx.add_import(target + (".*" if child_of_type(node, "wildcard_import") else ""), node)
        elif kind in ("class_declaration", "object_declaration"):
            return self._type(node, scope)
        elif kind == "companion_object":
            body = child_of_type(node, "class_body")
            return [(body, scope)] if body is not None else None
        elif kind == "function_declaration":
            name = ctx.text(child_of_type(node, "simple_identifier", "identifier"))
            body = child_of_type(node, "function_body")
            ctx.add(name, SymbolKind.METHOD if scope else SymbolKind.FUNCTION, scope, node, body=body)
            self.has_main = self.has_main or (name == "main" and not scope)
        elif kind == "property_declaration":
            self._property(node, scope)
        elif kind == "type_alias":
            ctx.add(ctx.text(child_of_type(node, "type_identifier", "identifier")), SymbolKind.TYPE, scope, node)
        return None

    def _type(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        ctx = self.ctx
        name = ctx.text(child_of_type(node, "type_identifier", "identifier"))
        body = child_of_type(node, "class_body", "enum_class_body")
        if has_token(node, "interface"):
            kind = SymbolKind.INTERFACE
        elif has_token(node, "enum") or (body is not None and body.type == "enum_class_body"):
            kind = SymbolKind.ENUM
        else:
            kind = SymbolKind.CLASS
        ctx.add(name, kind, scope, node, body=body)
        return [(body, (*scope, name))] if body is not None and name else None

    def _property(self, node: Node, scope: Scope) -> None:
        ctx = self.ctx
        declaration = child_of_type(node, "variable_declaration")
        name = ctx.text(child_of_type(declaration, "simple_identifier", "identifier")) if declaration else ""
        modifiers = ctx.text(child_of_type(node, "modifiers")).split()
        if "const" in modifiers or (
            not scope and upper_case(name) and ctx.text(child_of_type(node, "binding_pattern_kind")) == "val"
        ):
            ctx.add(name, SymbolKind.CONSTANT, scope, node)


def analyse_java(text: bytes) -> FileAnalysis:
    """Java: `has_main` is a `static void main` method."""
    ctx = open_file(JAVA_GRAMMAR, text)
    visitor = _JavaVisitor(ctx)
    walk(ctx.root, visitor)
    return ctx.finish(package=visitor.package, has_main=visitor.has_main)


def analyse_kotlin(text: bytes) -> FileAnalysis:
    """Kotlin: `has_main` is a top-level `fun main`."""
    ctx = open_file(KOTLIN_GRAMMAR, text)
    visitor = _KotlinVisitor(ctx)
    walk(ctx.root, visitor)
    return ctx.finish(package=visitor.package, has_main=visitor.has_main)


def _package_files(index: RepoIndex, package: str) -> tuple[str, ...]:
    return index.packages.get(("java", package), ()) + index.packages.get(("kotlin", package), ())


def _stem(path: str) -> str:
    return path.rsplit("/", 1)[-1].split(".", 1)[0]


def _declares(index: RepoIndex, path: str, name: str) -> bool:
    analysis = index.analyses.get(path)
    return analysis is not None and any(s.qualname == name for s in analysis.symbols)


def resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]:
    """`a.b.C` → the file of package `a.b` named `C` (or declaring `C`); `a.b.*` → the package's files.

    Nested and static imports (`a.b.C.Inner`, `a.b.C.max`) are tried with ever shorter packages.
    """
    parts = imported.target.split(".")
    if parts[-1] == "*":
        parts = parts[:-1]
        files = _package_files(index, ".".join(parts))
        if files:
            return tuple(sorted(f for f in files if f != importer))
    for cut in range(len(parts) - 1, 0, -1):
        package, name = ".".join(parts[:cut]), parts[cut]
        files = _package_files(index, package)
        if not files:
            continue
        found = [f for f in files if _stem(f) == name] or [f for f in files if _declares(index, f, name)]
        if found:
            return tuple(sorted(f for f in found if f != importer))
    return ()


JAVA = LanguageSupport(analyse=safely("java", analyse_java), resolve=resolve)
KOTLIN = LanguageSupport(analyse=safely("kotlin", analyse_kotlin), resolve=resolve)

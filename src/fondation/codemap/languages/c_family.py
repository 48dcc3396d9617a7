"""C and C++: types, functions and methods, constants, `#include`s, and include-path resolution.

The walk goes through preprocessor conditionals (include guards wrap whole headers), namespaces,
`extern "C"` blocks and templates, collecting `#include`s on the way (an include inside a function
body is not seen). Conventions:

- a struct/union/enum/class counts only with a body (a forward declaration defines nothing);
  `typedef struct {…} name_t;` is the struct `name_t`; other typedefs and `using X = …` are types;
- a prototype is a function (or, inside a class, a method) unless the same file defines it: headers
  are where C documents its API;
- an out-of-class definition `void Server::start()` is the method `Server.start` (the last scope
  segment is taken as the owning type; namespaces are never part of a qualname);
- `#define NAME value` with an UPPER_CASE name, and `const`/`constexpr` variables at file level or
  `static` in a class, are constants;
- any comment just above counts as the doc.
"""

from __future__ import annotations

from posixpath import basename, dirname

from tree_sitter import Node

from fondation.codemap.languages.base import LanguageSupport, RepoIndex
from fondation.codemap.languages.path_lookup import PathLookup
from fondation.codemap.languages.treesitter import (
    Grammar,
    Scope,
    Visitor,
    bare_type_name,
    first_named,
    open_file,
    relative_path,
    safely,
    upper_case,
    walk,
)
from fondation.codemap.model import FileAnalysis, RawImport, SymbolKind

C_GRAMMAR = Grammar(name="c", comments=("comment",), is_doc=lambda text: True)
CPP_GRAMMAR = Grammar(
    name="cpp",
    comments=("comment",),
    is_doc=lambda text: True,
    annotation_types=frozenset({"attribute_declaration"}),
)

_CONTAINERS = {
    "translation_unit",
    "ERROR",
    "preproc_if",
    "preproc_ifdef",
    "preproc_else",
    "preproc_elif",
    "preproc_elifdef",
    "declaration_list",
    "field_declaration_list",
}
_SPECIFIERS = {
    "struct_specifier": SymbolKind.STRUCT,
    "union_specifier": SymbolKind.STRUCT,
    "class_specifier": SymbolKind.CLASS,
    "enum_specifier": SymbolKind.ENUM,
}
#: Declarator wrappers to look through for the declared name.
_WRAPPERS = {
    "pointer_declarator",
    "reference_declarator",
    "parenthesized_declarator",
    "array_declarator",
    "init_declarator",
    "attributed_declarator",
}
_NAMES = {
    "identifier",
    "field_identifier",
    "type_identifier",
    "qualified_identifier",
    "destructor_name",
    "operator_name",
    "operator_cast",
}


def _declared(node: Node | None) -> tuple[Node | None, bool]:
    """The name node a declarator declares, and whether it declares a function."""
    function = False
    while node is not None and node.type not in _NAMES:
        if node.type == "function_declarator":
            function = True
        elif node.type == "pointer_declarator" and function:
            function = False  # `int (*handler)(int)`: a pointer to a function is a variable
        elif node.type not in _WRAPPERS:
            return None, function
        node = node.child_by_field_name("declarator") or first_named(node)
    return node, function


class _Visitor(Visitor):
    def __call__(self, node: Node, scope: Scope) -> list[tuple[Node, Scope]] | None:
        kind = node.type
        if kind in _CONTAINERS:
            return [(child, scope) for child in node.named_children]
        if kind in ("namespace_definition", "linkage_specification"):
            body = node.child_by_field_name("body")
            return [(body, scope)] if body is not None else None
        if kind == "template_declaration":
            inner = [c for c in node.named_children if c.type != "template_parameter_list"]
            return [(inner[0], scope)] if inner else None
        if kind in _SPECIFIERS:
            return self._specifier(node, scope, _template_wrapper(node))
        if kind == "function_definition":
            self._function(node, scope, _template_wrapper(node), node.child_by_field_name("body"))
        elif kind in ("declaration", "field_declaration"):
            return self._declaration(node, scope, _template_wrapper(node))
        elif kind == "type_definition":
            self._typedef(node, scope)
        elif kind == "alias_declaration":
            name = self.ctx.field_text(node, "name")
            self.ctx.add(name, SymbolKind.TYPE, scope, node, outer=_template_wrapper(node))
        elif kind == "preproc_include":
            self._include(node)
        elif kind == "preproc_def":
            name = self.ctx.field_text(node, "name")
            if node.child_by_field_name("value") is not None and upper_case(name):
                self.ctx.add(name, SymbolKind.CONSTANT, (), node)
        return None

    def _include(self, node: Node) -> None:
        path = node.child_by_field_name("path")
        if path is None:
            return
        written = self.ctx.text(path).strip()
        if path.type == "system_lib_string":
            self.ctx.add_import(written.strip("<>"), node, system=True)
        elif path.type == "string_literal":
            self.ctx.add_import(written.strip('"'), node)

    def _specifier(self, node: Node, scope: Scope, outer: Node) -> list[tuple[Node, Scope]] | None:
        body = node.child_by_field_name("body")
        name = bare_type_name(self.ctx.field_text(node, "name"))
        if body is None or not name:
            return None
        self.ctx.add(name, _SPECIFIERS[node.type], scope, node, body=body, outer=outer)
        return [(body, (*scope, name))] if node.type != "enum_specifier" else None

    def _function(self, node: Node, scope: Scope, outer: Node, body: Node | None) -> None:
        """A definition, or (without `body`) a prototype, dropped later if the file defines it too."""
        name_node, _ = _declared(node.child_by_field_name("declarator"))
        if name_node is None:
            return
        owner_scope, name = scope, self.ctx.text(name_node)
        if name_node.type == "qualified_identifier":
            parts = [p for p in _split_scope(name) if p]
            name = parts[-1].split("(", 1)[0].strip() if parts else ""
            owner = bare_type_name(parts[-2]) if len(parts) > 1 else ""
            owner_scope = (*scope, owner) if owner else scope
        kind = SymbolKind.METHOD if owner_scope else SymbolKind.FUNCTION
        declaration = body is None
        sig_end = body.start_byte if body is not None else node.end_byte
        self.ctx.add(name, kind, owner_scope, node, outer=outer, sig_end=sig_end, declaration=declaration)
        if name == "main" and not owner_scope and body is not None:
            self.has_main = True

    def _declaration(self, node: Node, scope: Scope, outer: Node) -> list[tuple[Node, Scope]] | None:
        ctx = self.ctx
        type_node = node.child_by_field_name("type")
        nested = None
        if type_node is not None and type_node.type in _SPECIFIERS and type_node.child_by_field_name("body"):
            nested = self._specifier(type_node, scope, node)
        words = {ctx.text(c) for c in node.children if c.type in ("type_qualifier", "storage_class_specifier")}
        for declarator in node.children_by_field_name("declarator"):
            name_node, function = _declared(declarator)
            if name_node is None:
                continue
            if function:
                self._function(node, scope, outer, None)
                break
            constant = bool(words & {"const", "constexpr"}) and (not scope or "static" in words)
            if constant:
                ctx.add(ctx.text(name_node), SymbolKind.CONSTANT, scope, node, outer=outer, sig_end=node.end_byte)
        return nested

    def _typedef(self, node: Node, scope: Scope) -> None:
        ctx = self.ctx
        type_node = node.child_by_field_name("type")
        declarators = node.children_by_field_name("declarator")
        alias = ctx.text(_declared(declarators[0])[0]) if declarators else ""
        if type_node is not None and type_node.type in _SPECIFIERS and type_node.child_by_field_name("body"):
            body = type_node.child_by_field_name("body")
            name = alias or bare_type_name(ctx.field_text(type_node, "name"))
            ctx.add(name, _SPECIFIERS[type_node.type], scope, node, body=body, outer=node)
        elif alias:
            ctx.add(alias, SymbolKind.TYPE, scope, node, sig_end=node.end_byte)


def _template_wrapper(node: Node) -> Node:
    """A templated definition starts (and is documented) at its `template <…>` line."""
    parent = node.parent
    return parent if parent is not None and parent.type == "template_declaration" else node


def _split_scope(text: str) -> list[str]:
    """`a::b<T>::C::start` → [a, b<T>, C, start], not splitting inside template arguments."""
    parts, depth, current = [], 0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if depth == 0 and text.startswith("::", i):
            parts.append(current.strip())
            current = ""
            i += 2
            continue
        current += ch
        i += 1
    parts.append(current.strip())
    return parts


def _analyse(grammar: Grammar, text: bytes) -> FileAnalysis:
    ctx = open_file(grammar, text)
    visitor = _Visitor(ctx)
    walk(ctx.root, visitor)
    return ctx.finish(has_main=visitor.has_main)


def analyse_c(text: bytes) -> FileAnalysis:
    """C: `has_main` is a defined `main` function."""
    return _analyse(C_GRAMMAR, text)


def analyse_cpp(text: bytes) -> FileAnalysis:
    """C++: as C, plus classes, namespaces, templates and out-of-class method definitions."""
    return _analyse(CPP_GRAMMAR, text)


def resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]:
    """A quoted include: beside the importer, at the root, in an `include/` directory, else a unique suffix.

    `<…>` includes are the system's or a dependency's and resolve to nothing.
    """
    if imported.system:
        return ()
    target = imported.target
    lookup = PathLookup.of(index)
    candidates = [relative_path(dirname(importer), target), relative_path("", target)]
    candidates += [relative_path(directory, target) for directory in lookup.dirs_named("include")]
    for candidate in candidates:
        if candidate is not None and candidate in index.paths and candidate != importer:
            return (candidate,)
    matches = [p for p in lookup.with_suffix(target) if p != importer and basename(p) == basename(target)]
    return (matches[0],) if len(matches) == 1 else ()


C = LanguageSupport(analyse=safely("c", analyse_c), resolve=resolve)
CPP = LanguageSupport(analyse=safely("cpp", analyse_cpp), resolve=resolve)

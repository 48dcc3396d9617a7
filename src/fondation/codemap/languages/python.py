"""Python through the standard library's `ast`: exact, fast, and no grammar to ship.

Import resolution maps dotted module names to files through `RepoIndex.python_modules` (see
`base.python_module_table` for how a file gets its module name).
"""

from __future__ import annotations

import ast

from fondation.codemap.languages.base import LanguageSupport, RepoIndex
from fondation.codemap.model import FileAnalysis, RawImport, Symbol, SymbolKind

_ROUTE_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "route", "websocket", "api_route"}
)
_MAX_DOC = 500


def analyse(text: bytes) -> FileAnalysis:
    """Symbols, imports and entry points of one Python file; a syntax error gives an empty analysis."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None)
        where = f" at line {line}" if line else ""
        return FileAnalysis(error=f"syntax error{where}")
    symbols: list[Symbol] = []
    routes: list[tuple[str, str, int]] = []
    _collect(tree.body, "", symbols, routes)
    return FileAnalysis(
        symbols=tuple(symbols),
        imports=tuple(_imports(tree)),
        has_main=any(_is_main_guard(node) for node in tree.body),
        entry_points=tuple(routes),
        doc=_first_paragraph(ast.get_docstring(tree, clean=True) or ""),
    )


def _collect(body: list[ast.stmt], prefix: str, symbols: list[Symbol], routes: list[tuple[str, str, int]]) -> None:
    in_class = bool(prefix)
    for node in body:
        if isinstance(node, ast.ClassDef):
            qualname = prefix + node.name
            symbols.append(_symbol(node, qualname, SymbolKind.CLASS, _class_signature(node)))
            _collect(node.body, qualname + ".", symbols, routes)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            kind = SymbolKind.METHOD if in_class else SymbolKind.FUNCTION
            symbols.append(_symbol(node, prefix + node.name, kind, _function_signature(node)))
            routes.extend(_routes(node))
        elif not in_class and isinstance(node, ast.Assign | ast.AnnAssign):
            symbols.extend(_constants(node))


def _symbol(
    node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef, qualname: str, kind: SymbolKind, signature: str
) -> Symbol:
    start = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
    return Symbol(
        name=node.name,
        qualname=qualname,
        kind=kind,
        line=start,
        end_line=node.end_lineno or node.lineno,
        signature=signature[:200],
        doc=_first_paragraph(ast.get_docstring(node, clean=True) or ""),
    )


def _class_signature(node: ast.ClassDef) -> str:
    bases = [ast.unparse(base) for base in node.bases] + [ast.unparse(keyword) for keyword in node.keywords]
    return f"class {node.name}({', '.join(bases)})" if bases else f"class {node.name}"


def _function_signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}"


def _constants(node: ast.Assign | ast.AnnAssign) -> list[Symbol]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    found = []
    for target in targets:
        if isinstance(target, ast.Name) and target.id.isupper() and len(target.id) > 1:
            signature = ast.unparse(node).split("\n", 1)[0]
            found.append(
                Symbol(
                    name=target.id,
                    qualname=target.id,
                    kind=SymbolKind.CONSTANT,
                    line=node.lineno,
                    end_line=node.end_lineno or node.lineno,
                    signature=signature,
                )
            )
    return found


def _routes(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, str, int]]:
    """Web routes declared by decorators such as `@app.get("/items")` (FastAPI, Flask, Starlette)."""
    found = []
    for decorator in node.decorator_list:
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
            continue
        method = decorator.func.attr
        first = decorator.args[0] if decorator.args else None
        is_path = isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.startswith("/")
        if method in _ROUTE_METHODS and is_path:
            verb = "" if method in ("route", "api_route") else method.upper() + " "
            found.append(("route", f"{verb}{first.value}", decorator.lineno))
    return found


def _imports(tree: ast.Module) -> list[RawImport]:
    """Every import, except those under `if TYPE_CHECKING:`, which exist for the type checker only
    and would draw dependency cycles that the running code does not have."""
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.extend(RawImport(alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            found.append(RawImport(node.module or "", node.lineno, names, node.level))
    found.sort(key=lambda item: (item.line, item.target))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    names = {part.id for part in parts if isinstance(part, ast.Name)}
    values = {part.value for part in parts if isinstance(part, ast.Constant)}
    return names == {"__name__"} and values == {"__main__"}


def _first_paragraph(doc: str) -> str:
    paragraph = doc.strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split())[:_MAX_DOC]


# ---------------------------------------------------------------------- resolution


def resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]:
    """The repository files an import names; the standard library and third parties give ()."""
    modules = index.python_modules
    base = _absolute_base(imported, importer, index)
    if base is None:
        return ()
    found: set[str] = set()
    for name in imported.names or ():
        submodule = modules.get(f"{base}.{name}" if base else name)
        if submodule is not None:
            found.add(submodule)
    if len(found) < len(imported.names) or not imported.names:
        target = modules.get(base)
        if target is not None:
            found.add(target)
    found.discard(importer)
    return tuple(sorted(found))


def _absolute_base(imported: RawImport, importer: str, index: RepoIndex) -> str | None:
    """The dotted name an import starts from; relative imports are anchored at the importer's package."""
    if imported.level == 0:
        return imported.target
    module = index.python_module_of.get(importer)
    if module is None:
        return None
    parts = module.split(".")
    if not importer.endswith(("__init__.py", "__init__.pyi")):
        parts = parts[:-1]
    up = imported.level - 1
    if up > len(parts):
        return None
    parts = parts[: len(parts) - up]
    prefix = ".".join(parts)
    if imported.target:
        return f"{prefix}.{imported.target}" if prefix else imported.target
    return prefix


SUPPORT = LanguageSupport(analyse=analyse, resolve=resolve)

"""The Python analyser (`ast`) and Python import resolution."""

from __future__ import annotations

import textwrap

import hypothesis.strategies as st
from hypothesis import given, settings

from fondation.codemap.languages import python
from fondation.codemap.languages.base import RepoIndex, python_module_table
from fondation.codemap.model import RawImport, SymbolKind

SOURCE = textwrap.dedent(
    '''\
    """Module doc."""
    import os
    from collections import OrderedDict as OD
    from . import sibling
    from ..core import engine, Engine

    MAX_SIZE = 10
    lower = 3


    @decorator
    class Store(Base, metaclass=Meta):
        """Keeps rows.

        More detail that is not the first paragraph.
        """

        LIMIT = 5

        def get(self, key: str, default: int = 0) -> int:
            return 1

        async def fetch(self, *keys):
            pass

        class Inner:
            def deep(self):
                pass


    def helper(x, /, y, *, z=1) -> None:
        """Help."""


    @app.get("/items/{item_id}")
    def read_item(item_id: int):
        pass


    if __name__ == "__main__":
        helper(1, 2)
    '''
).encode()


def test_symbols_with_spans_signatures_and_docs() -> None:
    analysis = python.analyse(SOURCE)
    found = {(s.qualname, s.kind, s.line, s.end_line) for s in analysis.symbols}
    assert found == {
        ("MAX_SIZE", SymbolKind.CONSTANT, 7, 7),
        ("Store", SymbolKind.CLASS, 11, 28),
        ("Store.get", SymbolKind.METHOD, 20, 21),
        ("Store.fetch", SymbolKind.METHOD, 23, 24),
        ("Store.Inner", SymbolKind.CLASS, 26, 28),
        ("Store.Inner.deep", SymbolKind.METHOD, 27, 28),
        ("helper", SymbolKind.FUNCTION, 31, 32),
        ("read_item", SymbolKind.FUNCTION, 35, 37),
    }
    by_name = {s.qualname: s for s in analysis.symbols}
    assert by_name["Store"].doc == "Keeps rows."
    assert by_name["Store"].signature == "class Store(Base, metaclass=Meta)"
    assert by_name["Store.get"].signature == "def get(self, key: str, default: int=0) -> int"
    assert by_name["Store.fetch"].signature.startswith("async def fetch(")
    assert by_name["helper"].signature == "def helper(x, /, y, *, z=1) -> None"
    assert by_name["MAX_SIZE"].signature == "MAX_SIZE = 10"
    assert analysis.has_main
    assert analysis.entry_points == (("route", "GET /items/{item_id}", 35),)


def test_imports_keep_level_names_and_lines() -> None:
    analysis = python.analyse(SOURCE)
    assert analysis.imports == (
        RawImport("os", 2),
        RawImport("collections", 3, ("OrderedDict",)),
        RawImport("", 4, ("sibling",), 1),
        RawImport("core", 5, ("engine", "Engine"), 2),
    )


def test_syntax_error_gives_a_reason_not_an_exception() -> None:
    analysis = python.analyse(b"def broken(:\n    pass\n")
    assert analysis.symbols == ()
    assert analysis.error == "syntax error at line 1"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_never_raise(data: bytes) -> None:
    python.analyse(data)


def _index(paths: list[str]) -> RepoIndex:
    return RepoIndex.build(dict.fromkeys(paths, "python"), {}, None)


def test_module_table_handles_src_layouts_and_namespace_roots() -> None:
    table = python_module_table(
        [
            "src/pkg/__init__.py",
            "src/pkg/core/__init__.py",
            "src/pkg/core/engine.py",
            "tests/test_engine.py",
            "setup.py",
            "scripts/build-docs.py",
        ]
    )
    assert table == {
        "pkg": "src/pkg/__init__.py",
        "pkg.core": "src/pkg/core/__init__.py",
        "pkg.core.engine": "src/pkg/core/engine.py",
        "test_engine": "tests/test_engine.py",
        "setup": "setup.py",
    }


def test_resolution_absolute_relative_and_submodule_names() -> None:
    index = _index(
        [
            "src/pkg/__init__.py",
            "src/pkg/api.py",
            "src/pkg/core/__init__.py",
            "src/pkg/core/engine.py",
            "src/pkg/core/util.py",
        ]
    )
    importer = "src/pkg/core/engine.py"
    assert python.resolve(RawImport("os", 1), importer, index) == ()
    assert python.resolve(RawImport("pkg.api", 1), importer, index) == ("src/pkg/api.py",)
    assert python.resolve(RawImport("", 1, ("util",), 1), importer, index) == ("src/pkg/core/util.py",)
    assert python.resolve(RawImport("api", 1, ("thing",), 2), importer, index) == ("src/pkg/api.py",)
    # `from pkg.core import engine, helper_function`: a submodule and a name defined in __init__
    assert python.resolve(RawImport("pkg.core", 1, ("util", "helper"), 0), importer, index) == (
        "src/pkg/core/__init__.py",
        "src/pkg/core/util.py",
    )
    # relative import from a package's __init__ is anchored at the package itself
    assert python.resolve(RawImport("", 1, ("engine",), 1), "src/pkg/core/__init__.py", index) == (
        "src/pkg/core/engine.py",
    )
    # too many dots: outside every package, nothing to resolve
    assert python.resolve(RawImport("x", 1, (), 5), importer, index) == ()

"""The tree-sitter analysers and resolvers: exact symbols, docs, imports and links on small projects.

Each fixture under tests/fixtures/codemap/<language>/ is a small, realistic multi-file project; the
expectations below are what a reader of those files would write down by hand. The property tests
then hold every analyser to the contract on any input: no exception, spans inside the file.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fondation.codemap.languages.base import RepoIndex
from fondation.codemap.languages.rust import resolve as resolve_rust
from fondation.codemap.languages.tree_sitter_languages import TREE_SITTER_LANGUAGES
from fondation.codemap.languages.treesitter import clean_doc, safely
from fondation.codemap.model import FileAnalysis, RawImport, Symbol, SymbolKind

FIXTURES = Path(__file__).parent / "fixtures" / "codemap"

#: How the tests assign languages to fixture files (the scanner has its own table).
EXTENSIONS = {
    ".js": "javascript",
    ".ts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
}

CL, IN, ST, EN, TR, TY, FN, ME, CO = (
    SymbolKind.CLASS,
    SymbolKind.INTERFACE,
    SymbolKind.STRUCT,
    SymbolKind.ENUM,
    SymbolKind.TRAIT,
    SymbolKind.TYPE,
    SymbolKind.FUNCTION,
    SymbolKind.METHOD,
    SymbolKind.CONSTANT,
)


@dataclass(frozen=True)
class Project:
    """A fixture project analysed and indexed as the code map would."""

    languages: dict[str, str]
    analyses: dict[str, FileAnalysis]
    index: RepoIndex

    def resolve(self, path: str) -> dict[str, tuple[str, ...]]:
        """Each import of `path` (target) → the files it resolves to."""
        support = TREE_SITTER_LANGUAGES[self.languages[path]]
        return {imp.target: support.resolve(imp, path, self.index) for imp in self.analyses[path].imports}


_PROJECTS: dict[str, Project] = {}


def project(name: str) -> Project:
    if name not in _PROJECTS:
        root = FIXTURES / name
        languages = {
            path.relative_to(root).as_posix(): EXTENSIONS[path.suffix]
            for path in sorted(root.rglob("*"))
            if path.is_file() and path.suffix in EXTENSIONS
        }
        analyses = {
            path: TREE_SITTER_LANGUAGES[language].analyse((root / path).read_bytes())
            for path, language in languages.items()
        }
        go_mod = root / "go.mod"
        module = go_mod.read_text().split()[1] if go_mod.exists() else None
        _PROJECTS[name] = Project(languages, analyses, RepoIndex.build(languages, analyses, module))
    return _PROJECTS[name]


@dataclass(frozen=True)
class Expected:
    """What one fixture file holds."""

    project: str
    path: str
    symbols: list[tuple[str, str, SymbolKind, int, int]]
    imports: list[tuple[str, int, tuple[str, ...]]] = field(default_factory=list)
    package: str | None = None
    has_main: bool = False


EXPECTED = [
    Expected(
        "javascript",
        "src/index.js",
        [
            ("DEFAULT_PORT", "DEFAULT_PORT", CO, 8, 8),
            ("start", "start", FN, 17, 20),
            ("handler", "handler", FN, 22, 22),
            ("App", "App", CL, 26, 33),
            ("mount", "App.mount", ME, 28, 30),
            ("create", "App.create", ME, 32, 32),
        ],
        [
            ("./util/strings", 1, ("slugify", "SEP")),
            ("express", 2, ("default",)),
            ("./router", 3, ()),
            ("./routes/index.js", 18, ()),
        ],
    ),
    Expected(
        "typescript",
        "src/server.ts",
        [
            ("Startable", "Startable", IN, 7, 9),
            ("start", "Startable.start", ME, 8, 8),
            ("Handler", "Handler", TY, 11, 11),
            ("Mode", "Mode", EN, 13, 16),
            ("Server", "Server", CL, 21, 30),
            ("constructor", "Server.constructor", ME, 24, 24),
            ("start", "Server.start", ME, 27, 29),
            ("create", "create", FN, 32, 34),
        ],
        [
            ("./types", 1, ("Options",)),
            ("./lib", 2, ("Store",)),
            ("./format.js", 3, ("formatBytes",)),
            ("./types", 4, ("*",)),
        ],
    ),
    Expected(
        "typescript",
        "src/view.tsx",
        [("View", "View", FN, 4, 6)],
        [("./server", 1, ("Server",))],
    ),
    Expected(
        "go",
        "internal/store/store.go",
        [
            ("MaxItems", "MaxItems", CO, 7, 7),
            ("Small", "Small", CO, 11, 11),
            ("Large", "Large", CO, 12, 12),
            ("Store", "Store", ST, 17, 20),
            ("Repo", "Repo", IN, 23, 25),
            ("Get", "Repo.Get", ME, 24, 24),
            ("New", "New", FN, 28, 30),
            ("Get", "Store.Get", ME, 33, 37),
        ],
        [("sync", 4, ())],
        package="store",
    ),
    Expected(
        "go",
        "cmd/shop/main.go",
        [("main", "main", FN, 10, 13)],
        [("fmt", 5, ()), ("example.com/shop/internal/store", 7, ())],
        package="main",
        has_main=True,
    ),
    Expected(
        "rust",
        "src/main.rs",
        [("main", "main", FN, 11, 16)],
        [
            ("mod:config", 3, ()),
            ("mod:store", 4, ()),
            ("crate::store::db", 6, ("Db", "Backend")),
            ("config", 7, ("Settings",)),
            ("std::collections", 8, ("HashMap",)),
        ],
        has_main=True,
    ),
    Expected(
        "rust",
        "src/store/db.rs",
        [
            ("MAX_ROWS", "MAX_ROWS", CO, 2, 2),
            ("Backend", "Backend", TR, 5, 8),
            ("len", "Backend.len", ME, 7, 7),
            ("Db", "Db", ST, 11, 13),
            ("open", "Db.open", ME, 16, 18),
            ("len", "Db.len", ME, 22, 24),
            ("Kind", "Kind", EN, 27, 30),
            ("Rows", "Rows", TY, 32, 32),
        ],
    ),
    Expected(
        "java",
        "src/main/java/com/acme/app/App.java",
        [
            ("App", "App", CL, 12, 29),
            ("GREETING", "App.GREETING", CO, 14, 14),
            ("App", "App.App", ME, 18, 20),
            ("main", "App.main", ME, 26, 28),
        ],
        [("com.acme.model.*", 3, ()), ("com.acme.util.Strings", 4, ()), ("java.util.List", 5, ())],
        package="com.acme.app",
        has_main=True,
    ),
    Expected(
        "java",
        "src/main/java/com/acme/model/Role.java",
        [
            ("Role", "Role", EN, 3, 11),
            ("canBuy", "Role.canBuy", ME, 8, 10),
            ("Named", "Named", IN, 13, 15),
            ("name", "Named.name", ME, 14, 14),
        ],
        package="com.acme.model",
    ),
    Expected(
        "kotlin",
        "src/main/kotlin/com/acme/model/User.kt",
        [
            ("Named", "Named", IN, 4, 7),
            ("greet", "Named.greet", ME, 6, 6),
            ("User", "User", CL, 10, 18),
            ("greet", "User.greet", ME, 11, 11),
            ("GUEST", "User.GUEST", CO, 14, 14),
            ("guest", "User.guest", ME, 16, 16),
            ("Registry", "Registry", CL, 20, 26),
            ("add", "Registry.add", ME, 23, 25),
            ("Role", "Role", EN, 28, 28),
            ("Users", "Users", TY, 30, 30),
        ],
        package="com.acme.model",
    ),
    Expected(
        "kotlin",
        "src/main/kotlin/com/acme/app/Main.kt",
        [("main", "main", FN, 8, 11)],
        [("com.acme.model.User", 3, ()), ("com.acme.util.slugify", 4, ()), ("kotlinx.coroutines.runBlocking", 5, ())],
        package="com.acme.app",
        has_main=True,
    ),
    Expected(
        "c",
        "include/shop/store.h",
        [
            ("STORE_MAX", "STORE_MAX", CO, 7, 7),
            ("item_t", "item_t", ST, 10, 13),
            ("store_new", "store_new", FN, 21, 21),
            ("store_add", "store_add", FN, 24, 24),
        ],
        [("stddef.h", 4, ())],
    ),
    Expected(
        "c",
        "src/store.c",
        [
            ("store", "store", ST, 6, 9),
            ("store_new", "store_new", FN, 11, 13),
            ("store_add", "store_add", FN, 16, 26),
        ],
        [("stdlib.h", 1, ()), ("string.h", 2, ()), ("shop/store.h", 3, ()), ("util.h", 4, ())],
    ),
    Expected(
        "c",
        "src/main.c",
        [("main", "main", FN, 4, 9)],
        [("stdio.h", 1, ()), ("store.h", 2, ())],
        has_main=True,
    ),
    Expected(
        "cpp",
        "include/geo/shape.hpp",
        [
            ("Shape", "Shape", CL, 8, 13),
            ("~Shape", "Shape.~Shape", ME, 10, 10),
            ("area", "Shape.area", ME, 12, 12),
            ("Circle", "Circle", CL, 16, 23),
            ("Circle", "Circle.Circle", ME, 18, 18),
            ("area", "Circle.area", ME, 19, 19),
            ("square", "square", FN, 25, 28),
            ("kPi", "kPi", CO, 30, 30),
        ],
        [("string", 3, ())],
    ),
    Expected(
        "cpp",
        "src/shape.cpp",
        [("Circle", "Circle.Circle", ME, 5, 5), ("area", "Circle.area", ME, 8, 10)],
        [("geo/shape.hpp", 1, ())],
    ),
    Expected(
        "csharp",
        "src/Core/Store.cs",
        [
            ("IStore", "IStore", IN, 7, 10),
            ("AddAsync", "IStore.AddAsync", ME, 9, 9),
            ("Store", "Store", CL, 13, 27),
            ("Capacity", "Store.Capacity", CO, 16, 16),
            ("AddAsync", "Store.AddAsync", ME, 22, 26),
        ],
        [("System.Collections.Generic", 1, ()), ("System.Threading.Tasks", 2, ())],
        package="Acme.Core",
    ),
    Expected(
        "csharp",
        "src/App/Program.cs",
        [("Program", "Program", CL, 11, 21), ("Main", "Program.Main", ME, 15, 20)],
        [
            ("System", 1, ()),
            ("System.Threading.Tasks", 2, ()),
            ("Acme.Core", 3, ()),
            ("Acme.Core.Item", 4, ("Item",)),
        ],
        package="Acme.App",
        has_main=True,
    ),
    Expected(
        "csharp",
        "src/Core/Item.cs",
        [("Item", "Item", CL, 4, 4), ("Unit", "Unit", EN, 6, 6), ("Price", "Price", ST, 8, 11)],
        package="Acme.Core",
    ),
    Expected(
        "ruby",
        "lib/shop/cart.rb",
        [
            ("Shop", "Shop", TR, 1, 21),
            ("Cart", "Shop.Cart", CL, 5, 20),
            ("DEFAULT_LIMIT", "Shop.Cart.DEFAULT_LIMIT", CO, 6, 6),
            ("initialize", "Shop.Cart.initialize", ME, 8, 10),
            ("add", "Shop.Cart.add", ME, 13, 15),
            ("empty", "Shop.Cart.empty", ME, 17, 19),
        ],
    ),
    Expected(
        "ruby",
        "lib/shop.rb",
        [("Shop", "Shop", TR, 8, 13), ("load", "Shop.load", ME, 10, 12)],
        [("json", 3, ("require",)), ("shop/cart", 4, ("require",)), ("shop/version", 5, ("require_relative",))],
    ),
    Expected(
        "ruby",
        "exe/shop.rb",
        [("run", "run", FN, 3, 5)],
        [("../lib/shop", 1, ("require_relative",))],
        has_main=True,
    ),
    Expected(
        "php",
        "src/App/Kernel.php",
        [
            ("Kernel", "Kernel", CL, 17, 30),
            ("VERSION", "Kernel.VERSION", CO, 19, 19),
            ("__construct", "Kernel.__construct", ME, 21, 23),
            ("handle", "Kernel.handle", ME, 26, 29),
        ],
        [
            ("Acme\\Model\\User", 7, ()),
            ("Acme\\Model\\Role", 7, ()),
            ("Psr\\Log\\LoggerInterface", 8, ()),
            ("__DIR__/../helpers.php", 10, ()),
        ],
        package="Acme\\App",
    ),
    Expected(
        "php",
        "src/Model/User.php",
        [
            ("Named", "Named", IN, 6, 9),
            ("name", "Named.name", ME, 8, 8),
            ("HasRole", "HasRole", TR, 11, 17),
            ("role", "HasRole.role", ME, 13, 16),
            ("User", "User", CL, 20, 32),
            ("__construct", "User.__construct", ME, 24, 26),
            ("name", "User.name", ME, 28, 31),
        ],
        package="Acme\\Model",
    ),
    Expected(
        "php",
        "src/helpers.php",
        [("GREETING", "GREETING", CO, 3, 3), ("greet", "greet", FN, 6, 9)],
    ),
]


def _id(expected: Expected) -> str:
    return f"{expected.project}:{expected.path}"


@pytest.mark.parametrize("expected", EXPECTED, ids=_id)
def test_symbols_are_the_definitions_with_their_exact_lines(expected: Expected) -> None:
    analysis = project(expected.project).analyses[expected.path]
    found = [(s.name, s.qualname, s.kind, s.line, s.end_line) for s in analysis.symbols]
    assert found == expected.symbols


@pytest.mark.parametrize("expected", EXPECTED, ids=_id)
def test_imports_are_read_as_written_with_their_lines(expected: Expected) -> None:
    analysis = project(expected.project).analyses[expected.path]
    assert [(i.target, i.line, i.names) for i in analysis.imports] == expected.imports


@pytest.mark.parametrize("expected", EXPECTED, ids=_id)
def test_package_and_entry_point(expected: Expected) -> None:
    analysis = project(expected.project).analyses[expected.path]
    assert (analysis.package, analysis.has_main, analysis.error) == (expected.package, expected.has_main, None)


@pytest.mark.parametrize(
    ("name", "path", "doc"),
    [
        ("go", "internal/store/store.go", "Package store keeps items."),
        ("go", "cmd/shop/main.go", "Command shop runs the shop."),
        ("rust", "src/main.rs", "The shop binary."),
        ("rust", "src/config.rs", ""),
    ],
)
def test_file_doc_is_the_package_or_module_comment(name: str, path: str, doc: str) -> None:
    assert project(name).analyses[path].doc == doc


def _symbol(name: str, path: str, qualname: str) -> Symbol:
    return next(s for s in project(name).analyses[path].symbols if s.qualname == qualname)


@pytest.mark.parametrize(
    ("name", "path", "qualname", "doc"),
    [
        ("javascript", "src/index.js", "DEFAULT_PORT", "Default port of the HTTP server."),
        ("javascript", "src/index.js", "start", "Starts the application on the given port."),
        ("javascript", "src/index.js", "App.mount", "Mounts a route."),
        ("javascript", "src/util/strings.js", "slugify", ""),  # a plain // comment is not JSDoc
        ("typescript", "src/server.ts", "Server.start", "Listens on `port`."),
        ("typescript", "src/view.tsx", "View", "Shows the server state."),
        ("go", "internal/store/store.go", "Store", "Store holds items in memory."),
        ("go", "internal/store/store.go", "Small", "Small is a small size."),
        ("rust", "src/config.rs", "Settings", "Settings read from the environment."),  # above #[derive]
        ("rust", "src/store/db.rs", "Backend.len", "Number of rows."),
        ("java", "src/main/java/com/acme/app/App.java", "App", "The application entry point."),
        ("java", "src/main/java/com/acme/app/App.java", "App.main", "Runs the program."),
        ("kotlin", "src/main/kotlin/com/acme/util/Strings.kt", "slugify", "Lower-cases and joins with [SEP]."),
        ("kotlin", "src/main/kotlin/com/acme/app/Main.kt", "main", "Starts the shop."),  # after the imports
        ("c", "include/shop/store.h", "store_new", "Creates an empty store."),
        ("c", "src/store.c", "store_add", "Adds or increments an item."),
        ("cpp", "src/shape.cpp", "Circle.area", "Uses the squared radius."),
        ("cpp", "include/geo/shape.hpp", "Shape.area", "Area in square units."),
        ("csharp", "src/App/Program.cs", "Program", "Runs the shop from the command line."),
        ("csharp", "src/App/Program.cs", "Program.Main", "Entry point."),
        ("csharp", "src/Core/Store.cs", "Store", "An in-memory store."),  # above [Serializable]
        ("ruby", "lib/shop/cart.rb", "Shop.Cart", "A shopping cart."),
        ("ruby", "lib/shop.rb", "Shop", "The shop's namespace."),  # not the magic comment
        ("php", "src/App/Kernel.php", "Kernel", "Handles a request."),
    ],
)
def test_doc_is_the_first_paragraph_of_the_comment_above(name: str, path: str, qualname: str, doc: str) -> None:
    assert _symbol(name, path, qualname).doc == doc


@pytest.mark.parametrize(
    ("name", "path", "qualname", "signature"),
    [
        ("javascript", "src/index.js", "start", "export async function start(port = DEFAULT_PORT)"),
        ("javascript", "src/index.js", "handler", "export const handler = (req, res) =>"),
        ("typescript", "src/server.ts", "Server.start", "async start(port: number): Promise<void>"),
        ("typescript", "src/server.ts", "Handler", "export type Handler = (path: string) => string"),
        ("go", "internal/store/store.go", "Store.Get", "func (s *Store) Get(name string) int"),
        ("go", "internal/store/store.go", "Store", "type Store struct"),
        ("rust", "src/store/db.rs", "Db.open", "pub fn open(_path: &str) -> Self"),
        ("java", "src/main/java/com/acme/app/App.java", "App.main", "public static void main(String[] args)"),
        (
            "kotlin",
            "src/main/kotlin/com/acme/model/User.kt",
            "User",
            "data class User(override val name: String) : Named",
        ),
        ("c", "src/store.c", "store_add", "int store_add(struct store *s, const char *name, int count)"),
        ("cpp", "include/geo/shape.hpp", "square", "template <typename T> T square(T value)"),
        ("csharp", "src/Core/Store.cs", "Store", "public class Store : IStore"),  # without its attribute
        ("ruby", "lib/shop/cart.rb", "Shop.Cart.add", "def add(name, count = 1)"),
        ("php", "src/App/Kernel.php", "Kernel.handle", "public function handle(User $user): string"),
    ],
)
def test_signature_is_the_header_on_one_line(name: str, path: str, qualname: str, signature: str) -> None:
    assert _symbol(name, path, qualname).signature == signature


@pytest.mark.parametrize(
    ("name", "path", "resolved"),
    [
        (
            "javascript",
            "src/index.js",
            {
                "./util/strings": ("src/util/strings.js",),
                "express": (),
                "./router": ("src/router.js",),
                "./routes/index.js": ("src/routes/index.js",),
            },
        ),
        (
            "typescript",
            "src/server.ts",
            {"./types": ("src/types.ts",), "./lib": ("src/lib/index.ts",), "./format.js": ("src/format.ts",)},
        ),
        ("typescript", "src/view.tsx", {"./server": ("src/server.ts",)}),
        (
            "go",
            "cmd/shop/main.go",
            {"fmt": (), "example.com/shop/internal/store": ("internal/store/memory.go", "internal/store/store.go")},
        ),
        (
            "rust",
            "src/main.rs",
            {
                "mod:config": ("src/config.rs",),
                "mod:store": ("src/store/mod.rs",),
                "crate::store::db": ("src/store/db.rs",),
                "config": ("src/config.rs",),
                "std::collections": (),
            },
        ),
        ("rust", "src/config.rs", {"mod:loader": ("src/config/loader.rs",)}),
        ("rust", "src/store/mod.rs", {"mod:db": ("src/store/db.rs",), "super::config": ("src/config.rs",)}),
        (
            "java",
            "src/main/java/com/acme/app/App.java",
            {
                "com.acme.model.*": (
                    "src/main/java/com/acme/model/Role.java",
                    "src/main/java/com/acme/model/User.java",
                ),
                "com.acme.util.Strings": ("src/main/java/com/acme/util/Strings.java",),
                "java.util.List": (),
            },
        ),
        (
            "kotlin",
            "src/main/kotlin/com/acme/app/Main.kt",
            {
                "com.acme.model.User": ("src/main/kotlin/com/acme/model/User.kt",),
                "com.acme.util.slugify": ("src/main/kotlin/com/acme/util/Strings.kt",),
                "kotlinx.coroutines.runBlocking": (),
            },
        ),
        (
            "c",
            "src/store.c",
            {"stdlib.h": (), "string.h": (), "shop/store.h": ("include/shop/store.h",), "util.h": ("src/util.h",)},
        ),
        ("c", "src/main.c", {"stdio.h": (), "store.h": ("include/shop/store.h",)}),
        ("cpp", "src/shape.cpp", {"geo/shape.hpp": ("include/geo/shape.hpp",)}),
        ("cpp", "src/main.cpp", {"iostream": (), "../include/geo/shape.hpp": ("include/geo/shape.hpp",)}),
        (
            "csharp",
            "src/App/Program.cs",
            {
                "System": (),
                "System.Threading.Tasks": (),
                "Acme.Core": ("src/Core/Item.cs", "src/Core/Store.cs"),
                "Acme.Core.Item": ("src/Core/Item.cs",),
            },
        ),
        (
            "ruby",
            "lib/shop.rb",
            {"json": (), "shop/cart": ("lib/shop/cart.rb",), "shop/version": ("lib/shop/version.rb",)},
        ),
        ("ruby", "exe/shop.rb", {"../lib/shop": ("lib/shop.rb",)}),
        (
            "php",
            "src/App/Kernel.php",
            {
                "Acme\\Model\\User": ("src/Model/User.php",),
                "Acme\\Model\\Role": ("src/Model/Role.php",),
                "Psr\\Log\\LoggerInterface": (),
                "__DIR__/../helpers.php": ("src/helpers.php",),
            },
        ),
    ],
)
def test_internal_imports_resolve_to_the_right_files(
    name: str, path: str, resolved: dict[str, tuple[str, ...]]
) -> None:
    assert project(name).resolve(path) == resolved


def test_registry_has_every_language_id() -> None:
    assert sorted(TREE_SITTER_LANGUAGES) == sorted(
        ["javascript", "typescript", "tsx", "go", "rust", "java", "kotlin", "c", "cpp", "csharp", "ruby", "php"]
    )


def _index(*paths: str, language: str = "javascript") -> RepoIndex:
    languages = dict.fromkeys(paths, language)
    return RepoIndex.build(languages, {path: FileAnalysis() for path in paths}, None)


def test_js_resolution_tries_extensions_in_order_then_index() -> None:
    resolve = TREE_SITTER_LANGUAGES["javascript"].resolve
    index = _index("a/b.ts", "a/b.js", "a/c/index.tsx", "a/d.d.ts", "x.js")
    assert resolve(RawImport("./b", 1), "a/main.js", index) == ("a/b.ts",)
    assert resolve(RawImport("./c", 1), "a/main.js", index) == ("a/c/index.tsx",)
    assert resolve(RawImport("./d", 1), "a/main.js", index) == ("a/d.d.ts",)
    assert resolve(RawImport("../x", 1), "a/main.js", index) == ("x.js",)
    assert resolve(RawImport("../../outside", 1), "a/main.js", index) == ()
    assert resolve(RawImport("lodash", 1), "a/main.js", index) == ()


def test_rust_mod_follows_the_non_mod_rs_rule() -> None:
    index = _index("src/lib.rs", "src/a.rs", "src/a/b.rs", "src/b.rs", "src/c/mod.rs", "src/c/d.rs", language="rust")
    assert resolve_rust(RawImport("mod:b", 1), "src/a.rs", index) == ("src/a/b.rs",)
    assert resolve_rust(RawImport("mod:b", 1), "src/lib.rs", index) == ("src/b.rs",)
    assert resolve_rust(RawImport("mod:d", 1), "src/c/mod.rs", index) == ("src/c/d.rs",)
    assert resolve_rust(RawImport("crate::c::d", 1, ("Thing",)), "src/a/b.rs", index) == ("src/c/d.rs",)
    assert resolve_rust(RawImport("crate", 1, ("Root",)), "src/a/b.rs", index) == ("src/lib.rs",)
    assert resolve_rust(RawImport("super", 1, ("Item",)), "src/a/b.rs", index) == ("src/a.rs",)
    assert resolve_rust(RawImport("serde", 1, ("Deserialize",)), "src/a.rs", index) == ()


def test_c_suffix_match_must_be_unique() -> None:
    resolve = TREE_SITTER_LANGUAGES["c"].resolve
    index = _index("lib/one/util.h", "lib/two/util.h", "deps/x/config.h", "src/main.c", language="c")
    assert resolve(RawImport("util.h", 1), "src/main.c", index) == ()
    assert resolve(RawImport("config.h", 1), "src/main.c", index) == ("deps/x/config.h",)
    assert resolve(RawImport("config.h", 1, system=True), "src/main.c", index) == ()


def test_a_prototype_is_dropped_when_the_file_defines_the_function() -> None:
    analysis = TREE_SITTER_LANGUAGES["c"].analyse(
        b"/** Adds. */\nint add(int, int);\n\nint add(int a, int b) {\n  return a + b;\n}\n"
    )
    assert [(s.name, s.line, s.end_line, s.doc) for s in analysis.symbols] == [("add", 4, 6, "Adds.")]


def test_macro_noise_is_not_a_failed_file_but_junk_is() -> None:
    analyse_c = TREE_SITTER_LANGUAGES["c"].analyse
    header = b'#define API __attribute__((visibility("default")))\nAPI int f(void);\nstruct s { int x; };\n'
    partial = analyse_c(header + b"MACRO_BEGIN(x) y z }\n")
    assert partial.error is None
    assert "s" in [s.name for s in partial.symbols]
    # The usual C++ guard makes the whole C tree one ERROR node, around perfectly good declarations.
    guarded = b'#ifdef __cplusplus\nextern "C" {\n#endif\n' + header + b"#ifdef __cplusplus\n}\n#endif\n"
    wrapped = analyse_c(guarded)
    assert wrapped.error is None
    assert [s.name for s in wrapped.symbols] == [s.name for s in analyse_c(header).symbols]
    junk = analyse_c(b"}}}} ))) \x00\x01 ;;; ]]] {{{")
    assert junk.error is not None and "partial analysis" in junk.error
    words = analyse_c(b"this is prose, not code at all\nand more of it here\n")
    assert words.error is not None


def test_an_analyser_bug_becomes_an_error_not_an_exception() -> None:
    def broken(text: bytes) -> FileAnalysis:
        raise ValueError("boom")

    assert safely("demo", broken)(b"x").error == "demo analyser failed: ValueError: boom"


@pytest.mark.parametrize(
    ("comments", "doc"),
    [
        (["/**\n * First line\n * goes on.\n *\n * Second paragraph.\n */"], "First line goes on."),
        (["/// <summary>", "/// Does X.", "/// </summary>", '/// <param name="a">A.</param>'], "Does X."),
        (["/** Javadoc. <p>Details. */"], "Javadoc."),
        (["/** {@link Foo} helper. @return x */"], "Foo helper. @return x"),
        (["# Ruby doc", "#", "# More."], "Ruby doc"),
        (["/** " + "word " * 200 + "*/"], ("word " * 100)[:499] + "…"),
    ],
)
def test_clean_doc_keeps_the_first_paragraph_without_markers(comments: list[str], doc: str) -> None:
    assert clean_doc(comments) == doc


def _fixture_files() -> list[tuple[str, bytes]]:
    return [(EXTENSIONS[path.suffix], path.read_bytes()) for path in _fixture_paths()]


def _fixture_paths() -> list[Path]:
    return [path for path in sorted(FIXTURES.rglob("*")) if path.is_file() and path.suffix in EXTENSIONS]


def _assert_contract(language: str, text: bytes) -> FileAnalysis:
    analysis = TREE_SITTER_LANGUAGES[language].analyse(text)
    assert analysis.error is None or "analyser failed" not in analysis.error, analysis.error
    lines = text.count(b"\n") + (0 if text.endswith(b"\n") or not text else 1)
    for symbol in analysis.symbols:
        assert 1 <= symbol.line <= symbol.end_line <= lines, symbol
        assert "\n" not in symbol.signature and len(symbol.signature) <= 200
        assert len(symbol.doc) <= 500
    for imported in analysis.imports:
        assert 1 <= imported.line <= max(lines, 1), imported
    return analysis


@pytest.mark.parametrize("path", _fixture_paths(), ids=lambda path: path.relative_to(FIXTURES).as_posix())
def test_every_fixture_meets_the_contract_and_is_deterministic(path: Path) -> None:
    language, text = EXTENSIONS[path.suffix], path.read_bytes()
    assert _assert_contract(language, text) == TREE_SITTER_LANGUAGES[language].analyse(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_truncated_and_mangled_sources_never_raise(data: st.DataObject) -> None:
    files = _fixture_files()
    language, text = data.draw(st.sampled_from(files))
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    noise = data.draw(st.binary(max_size=40))
    where = data.draw(st.integers(min_value=0, max_value=cut))
    _assert_contract(language, text[:where] + noise + text[where:cut])


@settings(max_examples=100, deadline=None)
@given(language=st.sampled_from(sorted(TREE_SITTER_LANGUAGES)), text=st.binary(max_size=300))
def test_random_bytes_never_raise(language: str, text: bytes) -> None:
    _assert_contract(language, text)


@pytest.mark.parametrize("language", sorted(TREE_SITTER_LANGUAGES))
def test_odd_inputs_never_raise(language: str) -> None:
    rng = random.Random(7)
    samples = [
        b"",
        b"\n",
        b"\xff\xfe\x00garbage",
        ("é" * 50).encode(),
        b"{" * 2000,
        b"class A { " * 300,
        bytes(rng.randrange(256) for _ in range(2000)),
        b"\r\n".join([b"/** doc */", b"function f() {}", b"class K { m() {} }"]),
    ]
    for text in samples:
        _assert_contract(language, text)


def test_analysers_can_run_in_threads() -> None:
    """Parsers are per thread: a scanner's thread pool gets the same answers as a sequential run."""
    files = _fixture_files() * 4
    sequential = [TREE_SITTER_LANGUAGES[language].analyse(text) for language, text in files]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda item: TREE_SITTER_LANGUAGES[item[0]].analyse(item[1]), files))
    assert threaded == sequential


def test_javascript_functions_assigned_to_exports_and_prototypes() -> None:
    """CommonJS and prototype style, the way much of npm defines its API (express, for one)."""
    analysis = TREE_SITTER_LANGUAGES["javascript"].analyse(
        b"/**\n * Send a response.\n */\nres.send = function send(body) {\n  return this;\n};\n"
        b"exports.compile = function (x) { return x; };\n"
        b"Router.prototype.handle = function handle(req) {};\n"
        b"module.exports = function createApp() {};\n"
        b"settings.port = 3000;\n"
    )
    assert [(s.qualname, s.kind.value, s.line, s.end_line) for s in analysis.symbols] == [
        ("res.send", "method", 4, 6),
        ("compile", "function", 7, 7),
        ("Router.handle", "method", 8, 8),
        ("createApp", "function", 9, 9),
    ]
    assert analysis.symbols[0].doc == "Send a response."

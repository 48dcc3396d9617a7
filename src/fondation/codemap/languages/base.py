"""The contract every language analyser meets, and the index import resolution reads.

A language is supported by two functions:

- `analyse(text: bytes) -> FileAnalysis`: symbols (with 1-based inclusive line spans that lie inside
  the file), raw imports, declared package, whether the file is a program entry point. It never
  raises on bad input: a file that does not parse gives what could be read plus `error`.
- `resolve(imported: RawImport, importer: str, index: RepoIndex) -> tuple[str, ...]`: the repository
  files an import refers to (sorted, possibly empty for the standard library or third-party code).

Both are pure and deterministic, which is what makes the code map reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from posixpath import dirname

from fondation.codemap.model import FileAnalysis, RawImport

Analyse = Callable[[bytes], FileAnalysis]


@dataclass(frozen=True, slots=True)
class RepoIndex:
    """What resolution may look at: every file's path and analysis, grouped the ways imports name them.

    `packages` maps (language, declared package) to the files declaring it (Go, Java, Kotlin, C#, PHP);
    `go_module` is the module path from the root `go.mod`, when there is one.
    """

    paths: frozenset[str]
    languages: dict[str, str]
    analyses: dict[str, FileAnalysis]
    by_dir: dict[str, tuple[str, ...]] = field(default_factory=dict)
    packages: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    go_module: str | None = None
    python_modules: dict[str, str] = field(default_factory=dict)
    python_module_of: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, languages: dict[str, str], analyses: dict[str, FileAnalysis], go_module: str | None) -> RepoIndex:
        by_dir: dict[str, list[str]] = {}
        packages: dict[tuple[str, str], list[str]] = {}
        for path in sorted(languages):
            by_dir.setdefault(dirname(path), []).append(path)
            analysis = analyses.get(path)
            if analysis is not None and analysis.package:
                packages.setdefault((languages[path], analysis.package), []).append(path)
        python_modules = python_module_table([path for path, language in languages.items() if language == "python"])
        return cls(
            paths=frozenset(languages),
            languages=languages,
            analyses=analyses,
            by_dir={key: tuple(value) for key, value in by_dir.items()},
            packages={key: tuple(value) for key, value in packages.items()},
            go_module=go_module,
            python_modules=python_modules,
            python_module_of={path: name for name, path in python_modules.items()},
        )


def python_module_table(python_paths: list[str]) -> dict[str, str]:
    """Dotted module name → file, for every Python file (a package maps to its `__init__.py`).

    A file's module name is its path below its *package root*: the first ancestor directory that is
    not itself a package (has no `__init__.py`). That one rule covers flat layouts, `src/` layouts and
    several projects side by side, without guessing from configuration files. It lives here, not in
    the Python analyser, because it is computed once per repository rather than once per import.
    """
    paths = set(python_paths)
    modules: dict[str, str] = {}
    for path in sorted(paths):
        root = dirname(path)
        while root and f"{root}/__init__.py" in paths:
            root = dirname(root)
        relative = path[len(root) + 1 :] if root else path
        parts = relative.rsplit(".", 1)[0].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and all(part.isidentifier() for part in parts):
            modules.setdefault(".".join(parts), path)
    return modules


Resolve = Callable[[RawImport, str, RepoIndex], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class LanguageSupport:
    analyse: Analyse
    resolve: Resolve

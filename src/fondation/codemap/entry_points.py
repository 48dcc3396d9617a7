"""Where a program starts: the places a newcomer runs first, so the course starts there too.

Two sources: project manifests (`pyproject.toml` scripts, `setup.cfg` console scripts,
`package.json` bin/main/scripts, `Cargo.toml` binaries), and what the analysers saw in the code
(`if __name__ == "__main__"`, a Go `main` package, a `main` function, web routes). A manifest that
does not parse is ignored: it is the repository's problem, not a reason to fail the map.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from posixpath import basename, dirname, join, normpath

from fondation.codemap.model import EntryPoint, FileAnalysis

MANIFEST_NAMES = frozenset({"pyproject.toml", "setup.cfg", "package.json", "cargo.toml", "go.mod"})


def is_manifest(path: str) -> bool:
    return basename(path).lower() in MANIFEST_NAMES


def entry_points(
    manifests: dict[str, bytes],
    analyses: dict[str, FileAnalysis],
    python_modules: dict[str, str],
    paths: frozenset[str],
) -> tuple[EntryPoint, ...]:
    """Every entry point found, sorted and without duplicates."""
    found: set[EntryPoint] = set()
    for path, text in manifests.items():
        name = basename(path).lower()
        if name == "pyproject.toml":
            found.update(_pyproject(path, text, analyses, python_modules))
        elif name == "setup.cfg":
            found.update(_setup_cfg(path, text, analyses, python_modules))
        elif name == "package.json":
            found.update(_package_json(path, text, paths))
        elif name == "cargo.toml":
            found.update(_cargo(path, text, paths))
    for path, analysis in analyses.items():
        found.update(_from_code(path, analysis))
    return tuple(sorted(found, key=lambda point: (point.path, point.line, point.kind, point.name)))


def go_module_path(text: bytes) -> str | None:
    """The module path declared by a `go.mod`."""
    match = re.search(rb"^\s*module\s+(\S+)", text, re.MULTILINE)
    return match.group(1).decode("utf-8", "replace").strip('"') if match else None


def _from_code(path: str, analysis: FileAnalysis) -> list[EntryPoint]:
    found = [EntryPoint(kind, name, path, line) for kind, name, line in analysis.entry_points]
    if analysis.has_main or basename(path) == "__main__.py":
        main = next((symbol.line for symbol in analysis.symbols if symbol.name in ("main", "Main")), 1)
        if path.endswith(".go"):
            found.append(EntryPoint("go main package", dirname(path) or ".", path, main))
        else:
            found.append(EntryPoint("main", path, path, main))
    return found


def _python_target(
    spec: str, analyses: dict[str, FileAnalysis], python_modules: dict[str, str]
) -> tuple[str, int] | None:
    """`package.module:function` → (file, line of the function), when the module is in the repository."""
    module, _, attribute = spec.strip().partition(":")
    path = python_modules.get(module.strip())
    if path is None:
        return None
    qualname = attribute.split("[", 1)[0].strip()
    analysis = analyses.get(path)
    symbols = analysis.symbols if analysis is not None else ()
    line = next((symbol.line for symbol in symbols if symbol.qualname == qualname), 1)
    return path, line


def _pyproject(
    path: str, text: bytes, analyses: dict[str, FileAnalysis], python_modules: dict[str, str]
) -> list[EntryPoint]:
    try:
        data = tomllib.loads(text.decode("utf-8", "replace"))
    except tomllib.TOMLDecodeError:
        return []
    tables = [
        data.get("project", {}).get("scripts", {}),
        data.get("project", {}).get("gui-scripts", {}),
        data.get("tool", {}).get("poetry", {}).get("scripts", {}),
    ]
    found = []
    for table in tables:
        if not isinstance(table, dict):
            continue
        for name, spec in sorted(table.items()):
            target = _python_target(spec, analyses, python_modules) if isinstance(spec, str) else None
            if target is not None:
                found.append(EntryPoint("console script", str(name), *target))
    return found


def _setup_cfg(
    path: str, text: bytes, analyses: dict[str, FileAnalysis], python_modules: dict[str, str]
) -> list[EntryPoint]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text.decode("utf-8", "replace"))
        scripts = parser.get("options.entry_points", "console_scripts", fallback="")
    except configparser.Error:
        return []
    found = []
    for line in scripts.splitlines():
        name, _, spec = line.partition("=")
        target = _python_target(spec, analyses, python_modules) if spec else None
        if target is not None:
            found.append(EntryPoint("console script", name.strip(), *target))
    return found


def _package_json(path: str, text: bytes, paths: frozenset[str]) -> list[EntryPoint]:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return []
    if not isinstance(data, dict):
        return []
    base = dirname(path)
    package = str(data.get("name") or base or ".")
    bins = data.get("bin")
    if isinstance(bins, str):
        bins = {package.rsplit("/", 1)[-1]: bins}
    found = []
    for name, target in sorted(bins.items()) if isinstance(bins, dict) else ():
        file = _inside(base, target, paths)
        if file is not None:
            found.append(EntryPoint("npm bin", str(name), file, 1))
    main = data.get("main")
    file = _inside(base, main, paths) if isinstance(main, str) else None
    if file is not None:
        found.append(EntryPoint("npm main", package, file, 1))
    scripts = data.get("scripts")
    lines = text.decode("utf-8", "replace").splitlines()
    for name in sorted(scripts) if isinstance(scripts, dict) else ():
        found.append(EntryPoint("npm script", str(name), path, _line_of_key(lines, str(name))))
    return found


def _cargo(path: str, text: bytes, paths: frozenset[str]) -> list[EntryPoint]:
    try:
        data = tomllib.loads(text.decode("utf-8", "replace"))
    except tomllib.TOMLDecodeError:
        return []
    base = dirname(path)
    package = str(data.get("package", {}).get("name", base or "."))
    found = []
    default_main = join(base, "src/main.rs") if base else "src/main.rs"
    if default_main in paths:
        found.append(EntryPoint("cargo bin", package, default_main, 1))
    bins = data.get("bin", [])
    for table in bins if isinstance(bins, list) else ():
        if not isinstance(table, dict):
            continue
        name = str(table.get("name", package))
        target = table.get("path") or f"src/bin/{name}.rs"
        file = _inside(base, target, paths) if isinstance(target, str) else None
        if file is not None:
            found.append(EntryPoint("cargo bin", name, file, 1))
    return found


def _inside(base: str, target: object, paths: frozenset[str]) -> str | None:
    """A manifest's relative path as a repository file, or None when it is outside or missing."""
    if not isinstance(target, str) or target.startswith("/"):
        return None
    file = normpath(join(base, target)) if base else normpath(target)
    return file if file in paths else None


def _line_of_key(lines: list[str], key: str) -> int:
    needle = json.dumps(key) + ":"
    compact = json.dumps(key)
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith(needle) or stripped.startswith(compact + " :"):
            return number
    return 1

"""Lower layers never import higher ones (docs/ARCHITECTURE.md, "Layers"): checked on every import.

Every `import`/`from … import` in every module counts, including those deferred inside functions, so a
lazy import cannot hide a dependency on a face from the generator or the queue.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "fondation"
#: The layer of each top-level module of the package, as docs/ARCHITECTURE.md lists them.
LAYERS = {
    "domain": 1,
    "config": 1,
    "logs": 1,
    "store": 2,
    "queue": 3,
    "accounts": 4,
    "sources": 4,
    "codemap": 4,
    "providers": 4,
    "pipeline": 4,
    "render": 4,
    "worker": 5,
    "ops": 6,
    "cli": 7,
    "web": 7,
}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "fondation" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_every_room_has_a_layer() -> None:
    rooms = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir() if not path.name.startswith("_")}
    rooms.discard("py")
    assert rooms - {"migrations"} <= set(LAYERS), rooms - set(LAYERS)


def test_no_module_imports_a_higher_layer() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        room = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if room not in LAYERS:
            continue
        for line, module in _imports(path):
            target = _room(module)
            if target in LAYERS and LAYERS[target] > LAYERS[room]:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({room}, layer {LAYERS[room]}) imports {module}")
    assert not wrong, "\n".join(wrong)

"""A small but complete project (Python package, CLI, web route, tests, README, package.json) for tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

PROJECT = {
    "README.md": """\
        [![build](https://ci.example/badge.svg)](https://ci.example)
        # Shop

        A tiny shop.

        ## Install

        ```
        # not a heading
        pip install shop
        ```

        Usage
        -----

        Run `shop`.
        """,
    "pyproject.toml": """\
        [project]
        name = "shop"
        [project.scripts]
        shop = "shop.cli:main"
        missing = "elsewhere.mod:run"
        """,
    "package.json": """\
        {
          "name": "shop-ui",
          "main": "ui/index.js",
          "bin": {"shop-ui": "./ui/index.js"},
          "scripts": {
            "build": "tsc",
            "test": "jest"
          }
        }
        """,
    "ui/index.js": "module.exports = {};\n",
    "src/shop/__init__.py": '"""The shop package."""\n',
    "src/shop/models.py": """\
        class Item:
            \"\"\"Something to sell.\"\"\"

            def price(self) -> int:
                return 1


        class Basket:
            def add(self, item: Item) -> None:
                pass
        """,
    "src/shop/store.py": """\
        from shop.models import Item


        def find(name: str) -> Item:
            return Item()
        """,
    "src/shop/api.py": """\
        from .models import Basket
        from . import store


        @router.post("/basket")
        def add_to_basket():
            return Basket()
        """,
    "src/shop/cli.py": """\
        import sys
        from shop import api, store
        from shop.models import Item


        def main() -> None:
            store.find("x")


        if __name__ == "__main__":
            main()
        """,
    "src/shop/__main__.py": "from shop.cli import main\n\nmain()\n",
    "tests/test_models.py": """\
        from shop.models import Item


        def test_price():
            assert Item().price() == 1
        """,
    "tests/helpers.py": "from shop import store\n",
}


def make_project(root: Path, files: dict[str, str] = PROJECT) -> Path:
    """Write `files` (dedented) under `root` and return it."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
    return root

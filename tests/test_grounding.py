"""The grounding gate: each kind of false claim is caught, and repair degrades it instead of shipping it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fondation.codemap.build import build_code_map
from fondation.pipeline.grounding import Grounding
from fondation.pipeline.workspace import Workspace

REPO = {
    "pkg/__init__.py": "",
    "pkg/store.py": textwrap.dedent(
        """\
        import os


        class Store:
            def get(self, key):
                value = self.rows[key]
                return value

            def put(self, key, value):
                self.rows[key] = value
        """
    ),
}


@pytest.fixture
def grounding(tmp_path: Path) -> Grounding:
    for name, text in REPO.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return Grounding(Workspace(tmp_path, build_code_map(tmp_path, name="repo")))


def _check(grounding: Grounding, markdown: str, pages: dict[str, str] | None = None) -> list[tuple[str, str]]:
    all_pages = {"chapters/01-a.md": markdown, **(pages or {})}
    report = grounding.check(all_pages)
    return [(finding.check, finding.detail) for finding in report.findings]


def test_true_claims_pass_and_are_counted(grounding: Grounding) -> None:
    markdown = textwrap.dedent(
        """\
        `Store.get` in `pkg/store.py:5-7` reads a row from the `pkg/` package with `os.path` and `len()`.

        `pkg/store.py:5`

        ```python
        def get(self, key):
            value = self.rows[key]
        ```

        With an elision, `pkg/store.py:5-10`:

        ```python
        def get(self, key):
            ...
            self.rows[key] = value
        ```

        ```bash
        python -m pytest -k anything_at_all
        ```

        ```mermaid
        flowchart LR
            a["Store"] --> b["os"]
        ```

        See [the next chapter](02-b.md#top) and [the site](https://example.com).
        """
    )
    report = grounding.check({"chapters/01-a.md": markdown, "chapters/02-b.md": "# B\n"})
    assert report.findings == []
    tallies = {name: (tally.checked, tally.passed) for name, tally in report.tallies.items()}
    assert tallies == {
        "paths": (4, 4),
        "anchors": (3, 3),
        "symbols": (3, 3),
        "excerpts": (2, 2),
        "mermaid": (1, 1),
        "links": (1, 1),
    }
    assert report.cited == {"pkg/store.py"}


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("See `pkg/missing.py`.", ("paths", "pkg/missing.py does not exist in the repository")),
        ("See `pkg/store.py:99`.", ("anchors", "pkg/store.py:99 is not inside a repository file")),
        ("See `pkg/store.py:7-5`.", ("anchors", "pkg/store.py:7-5 is not inside a repository file")),
        ("Call `Store.delete()`.", ("symbols", "Store.delete() names no symbol of the repository")),
        ("Read [it](03-missing.md).", ("links", "link to 03-missing.md points at no page of the course")),
        (
            "In `pkg/store.py:5`:\n\n```python\ndef get(self, key):\n    return None\n```\n",
            ("excerpts", "code block at line 3 is not a span of pkg/store.py"),
        ),
        (
            "```mermaid\nflowchart LR\n    a[Store (main)] --> b\n```\n",
            ("mermaid", None),
        ),
    ],
)
def test_each_false_claim_is_found(grounding: Grounding, markdown: str, expected: tuple[str, str | None]) -> None:
    findings = _check(grounding, markdown)
    assert len(findings) == 1
    check, detail = findings[0]
    assert check == expected[0]
    if expected[1] is not None:
        assert detail == expected[1]


def test_plain_words_in_code_marks_are_not_symbols(grounding: Grounding) -> None:
    assert _check(grounding, "Run `pytest`, set `debug` to `true`, type `make test`.") == []


def test_repair_degrades_every_failure_and_leaves_true_claims(grounding: Grounding) -> None:
    markdown = textwrap.dedent(
        """\
        `Store.get` is real; `Store.delete` is not.

        In `pkg/store.py:5`:

        ```python
        invented = True
        ```

        ```mermaid
        flowchart LR
            a[Store (main)] --> b
        ```
        """
    )
    repaired, count = grounding.repair(markdown, "chapters/01-a.md", "unverified", "diagram shown as text")
    assert count == 3
    assert "`Store.get` is real; Store.delete *(unverified)* is not." in repaired
    assert "```text\ninvented = True\n```" in repaired
    assert "*diagram shown as text*\n\n```text\nflowchart LR" in repaired
    assert grounding.check({"chapters/01-a.md": repaired}).findings == []


def test_dead_links_become_their_text(grounding: Grounding) -> None:
    repaired, count = grounding.repair_links(
        "[ok](02-b.md) and [gone](09-x.md) and [web](https://x.org)", "chapters/01-a.md", {"chapters/02-b.md"}
    )
    assert (repaired, count) == ("[ok](02-b.md) and gone and [web](https://x.org)", 1)

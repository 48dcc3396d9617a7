"""check_mermaid, the built-in checker, on the corpus and on the reasons it gives.

tests/test_render_mermaid_real.py holds the same corpus (and more) to the real mermaid parser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fondation.render import check_mermaid

CORPUS = Path(__file__).parent / "fixtures" / "mermaid"
VALID = sorted((CORPUS / "valid").glob("*.mmd"))
INVALID = sorted((CORPUS / "invalid").glob("*.mmd"))


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_corpus_passes(path: Path) -> None:
    assert check_mermaid(path.read_text(encoding="utf-8")) is None


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_corpus_fails_with_one_line(path: Path) -> None:
    reason = check_mermaid(path.read_text(encoding="utf-8"))
    assert reason and "\n" not in reason


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("flowchart TD\n  A[load()] --> B", "line 2: '(' inside a label: put the label in double quotes"),
        ("flowchart TD\n  A --> end", "line 2: 'end' is a mermaid keyword and cannot be a node id"),
        ("flowchart TD\n  subgraph s\n    A\n", "line 4: 1 subgraph(s) not closed by 'end'"),
        ("flowchart TD\n  A --> B\n  linkStyle 3 stroke:#f00", "line 3: linkStyle 3: there are only 1 links"),
        ("sequenceDiagram\n  A->>B: hi\n  B-->>-A: ok", "line 3: deactivating 'B', which is not active"),
        ("sequenceDiagram\n  A->>B: x; y", "(';' ends a statement"),
        ("sequenceDiagram\n  loop forever\n  A->>B: x", "line 3: 'loop' block not closed by 'end'"),
        ("classDiagram\n  A <|-- B", "unsupported diagram type 'classDiagram'"),
        ("```mermaid\ngraph TD\n  A-->B\n```", "unsupported diagram type '```mermaid'"),
        ("%% only a comment\n", "empty diagram"),
    ],
)
def test_reasons_name_the_line_and_the_fix(source: str, reason: str) -> None:
    assert reason in (check_mermaid(source) or "")


def test_line_numbers_count_comments_and_directives() -> None:
    source = '%%{init: {"theme": "dark"}}%%\nflowchart TD\n  %% a comment\n  A --> B\n  B --> C[x (y)]'
    assert (check_mermaid(source) or "").startswith("line 5:")


def test_crlf_and_entity_codes_are_read_as_mermaid_reads_them() -> None:
    assert check_mermaid("flowchart TD\r\n  A[say #quot;hi#quot;] --> B\r\n") is None
    assert check_mermaid("sequenceDiagram\n  A->>B: a #59; b") is None

"""The real mermaid parser (node + the pinned mermaid) judges the corpus, and check_mermaid must agree.

Also: check_mermaid agrees with mermaid on a seeded batch of generated diagrams, well beyond the
hand-written corpus; and the node parser agrees with the browser build the site ships, so a diagram the
tests call valid is one a reader's page draws. Every diagram goes through one run of the real parser.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from browser import chromium
from fondation.render import check_mermaid, vendored_asset
from mermaid_real import real_mermaid_errors

CORPUS = Path(__file__).parent / "fixtures" / "mermaid"
COURSE = Path(__file__).parent / "fixtures" / "course"

# ---- generated diagrams: the shapes, labels and mistakes a model writes, combined at random (seeded)

_IDS = (["A", "B", "node_1", "api.v2", "my-node", "Données", "endpoint", "End", "x1", "42"], ["end", "style", "class"])
_LABELS = (
    ["Start", "it's: fine, ok.", "a; b", "src/pkg/f.py:12", "<b>x</b>", "#quot;q#quot;", "x > y", "a/b"],
    ["call()", "list[int]", "{k}", 'say "hi"', "a|b", ""],
)
_SHAPES = (["[]", "()", "([])", "[[]]", "{}", "(())", ">]", "[()]", "{{}}", "[//]", "[\\\\]"], ["[)", "(]"])
_ARROWS = (["-->", "---", "-.->", "==>", "--x", "--o", "<-->", "~~~"], ["->", "=>", "<--"])
_HEADERS = (["flowchart TD", "graph LR", "flowchart BT", "graph"], ["flowchart XY"])
_SUBGRAPHS = (['subgraph s1 ["Core (v2)"]', "subgraph Two words", "subgraph s [Title]"], ["subgraph s [Title (x)]"])
_STYLES = (["classDef hot fill:#f96", "class A hot", "style A fill:#fff", "linkStyle 0 stroke:#f00"], ["style A"])
_ACTORS = (["A", "B", "Web Server", "api-gw", "Client"], ["end", "Option", "loop"])
_MESSAGE_ARROWS = (["->>", "-->>", "->", "-->", "-x", "--x", "-)", "--)", "->>+"], ["-->>-", "=>", "->>>"])
_TEXTS = ([": hi", ": (x) [y] {z}", ": ", ": a: b"], [": a; b", ""])
_SEQUENCE = (
    ["activate A", "Note over A,B: x", "autonumber", "Note right of B: y"],
    ["deactivate A", "Note left of A,B: x"],
)
_BLOCKS = (["loop every 5 s", "alt ok", "par x", "opt maybe"], ["else no", "and y", "end"])


def _pick(rng: random.Random, choices: tuple[list[str], list[str]]) -> str:
    """Mostly a valid choice, sometimes a typical mistake."""
    return rng.choice(choices[1] if rng.random() < 0.04 else choices[0])


def _label(rng: random.Random) -> str:
    text = _pick(rng, _LABELS)
    return f'"{text}"' if rng.random() < 0.3 and '"' not in text else text


def _node(rng: random.Random) -> str:
    shape = _pick(rng, _SHAPES) if rng.random() < 0.7 else ""
    middle = len(shape) // 2
    return _pick(rng, _IDS) + (shape[:middle] + _label(rng) + shape[middle:] if shape else "")


def _flowchart(rng: random.Random) -> str:
    lines = [_pick(rng, _HEADERS)]
    depth = 0
    for _ in range(rng.randint(1, 6)):
        roll = rng.random()
        if roll < 0.65:
            line = _node(rng)
            for _ in range(rng.randint(0, 2)):
                arrow = _pick(rng, _ARROWS)
                link = rng.choice([f" {arrow} ", f" {arrow}|{_label(rng)}| ", f" -- {_label(rng)} --> "])
                line += link + _node(rng)
            lines.append(line)
        elif roll < 0.8:
            lines.append(_pick(rng, _SUBGRAPHS))
            depth += 1
        elif roll < 0.9 and depth:
            lines.append("end")
            depth -= 1
        else:
            lines.append(_pick(rng, _STYLES))
    lines += ["end"] * depth if rng.random() < 0.95 else []
    return "\n    ".join(lines)


def _sequence(rng: random.Random) -> str:
    lines = ["sequenceDiagram"]
    blocks = 0
    for _ in range(rng.randint(1, 7)):
        roll = rng.random()
        if roll < 0.6:
            lines.append(_pick(rng, _ACTORS) + _pick(rng, _MESSAGE_ARROWS) + _pick(rng, _ACTORS) + _pick(rng, _TEXTS))
        elif roll < 0.75:
            lines.append(_pick(rng, _SEQUENCE))
        elif roll < 0.9:
            lines.append(_pick(rng, _BLOCKS))
            blocks += 1
        elif blocks:
            lines.append("end")
            blocks -= 1
    lines += ["end"] * blocks if rng.random() < 0.95 else []
    return "\n    ".join(lines)


def _generated(count: int) -> dict[str, str]:
    rng = random.Random(20240611)
    return {f"generated#{n}": _flowchart(rng) if rng.random() < 0.6 else _sequence(rng) for n in range(count)}


def _course() -> dict[str, str]:
    return {
        f"course/{path.relative_to(COURSE).as_posix()}#{n}": block
        for path in sorted(COURSE.rglob("*.md"))
        for n, block in enumerate(re.findall(r"```mermaid\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL))
    }


CORPUS_FILES = {
    path.relative_to(CORPUS).as_posix(): path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*/*.mmd"))
}
SOURCES = {**CORPUS_FILES, **_course(), **_generated(400)}


@pytest.fixture(scope="module")
def real() -> dict[str, str | None]:
    """The real parser's verdict on every diagram of this module: None, or mermaid's error."""
    return dict(zip(SOURCES, real_mermaid_errors(list(SOURCES.values())), strict=True))


def _disagreements(real: dict[str, str | None], prefix: str) -> dict[str, tuple[str | None, str | None]]:
    """Diagrams (by name) on which check_mermaid and the real parser disagree: (checker's, parser's) reasons."""
    verdicts = {name: (check_mermaid(SOURCES[name]), error) for name, error in real.items() if name.startswith(prefix)}
    return {name: pair for name, pair in verdicts.items() if (pair[0] is None) != (pair[1] is None)}


def test_the_corpus_is_large_enough() -> None:
    assert sum(n.startswith("valid/") for n in CORPUS_FILES) >= 25
    assert sum(n.startswith("invalid/") for n in CORPUS_FILES) >= 25


def test_real_parser_agrees_with_the_folders(real: dict[str, str | None]) -> None:
    assert {name: real[name] for name in CORPUS_FILES if (real[name] is None) != name.startswith("valid/")} == {}


@pytest.mark.parametrize("prefix", ["valid/", "invalid/", "course/", "generated#"])
def test_check_mermaid_agrees_with_the_real_parser(real: dict[str, str | None], prefix: str) -> None:
    assert _disagreements(real, prefix) == {}


def test_the_fixture_course_has_exactly_one_broken_diagram(real: dict[str, str | None]) -> None:
    assert [name for name, error in real.items() if name.startswith("course/") and error] == [
        "course/tutorials/03-recovery.md#0"
    ]


def test_generated_diagrams_mix_valid_and_invalid(real: dict[str, str | None]) -> None:
    verdicts = [error is None for name, error in real.items() if name.startswith("generated#")]
    assert 0.3 < sum(verdicts) / len(verdicts) < 0.8


def test_node_parser_agrees_with_the_browser_build(real: dict[str, str | None]) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.add_script_tag(path=str(vendored_asset("mermaid.min.js")))
        in_browser = page.evaluate(
            """async (sources) => {
                mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });
                const out = [];
                for (const source of sources) {
                    try { await mermaid.parse(source); out.push(null); } catch (e) { out.push(String(e.message || e)); }
                }
                return out;
            }""",
            list(SOURCES.values()),
        )
    differ = [name for name, error in zip(SOURCES, in_browser, strict=True) if (error is None) != (real[name] is None)]
    assert differ == []

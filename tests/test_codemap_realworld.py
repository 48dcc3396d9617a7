"""The code map of real open-source code bases, fetched from PyPI and npm at test time."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from bench.corpus import fetch

from fondation.codemap.build import build_code_map
from fondation.codemap.model import CodeMap

CODE_BASES = ["click", "requests", "express", "zod"]


@pytest.fixture(scope="module", params=CODE_BASES)
def mapped(request: pytest.FixtureRequest) -> tuple[Path, CodeMap]:
    root = fetch(request.param)
    return root, build_code_map(root, name=request.param)


def test_every_symbol_span_lies_inside_its_file(mapped: tuple[Path, CodeMap]) -> None:
    root, code_map = mapped
    symbols = 0
    for entry in code_map.files:
        lines = len((root / entry.path).read_bytes().splitlines())
        assert entry.lines in (lines, lines + 1) or entry.lines == lines, entry.path
        for symbol in entry.symbols:
            assert 1 <= symbol.line <= symbol.end_line <= max(entry.lines, 1), (entry.path, symbol)
            symbols += 1
    assert symbols > 50


def test_dependencies_and_tests_point_at_files_of_the_repository(mapped: tuple[Path, CodeMap]) -> None:
    _, code_map = mapped
    paths = set(code_map.by_path)
    assert code_map.dependencies, "a real code base has internal imports"
    for edge in code_map.dependencies:
        assert edge.source in paths and edge.target in paths and edge.source != edge.target
        assert 1 <= edge.line <= code_map.by_path[edge.source].lines
    for link in code_map.tests:
        assert link.path in paths and all(test in paths and code_map.by_path[test].test for test in link.tests)


def test_the_files_everything_imports_rank_at_the_top(mapped: tuple[Path, CodeMap]) -> None:
    _, code_map = mapped
    fan_in = Counter(edge.target for edge in code_map.dependencies if not code_map.by_path[edge.source].test)
    most_imported = [path for path, _ in fan_in.most_common(3)]
    top_ranked = sorted(code_map.ranks, key=lambda path: (-code_map.ranks[path], path))[:10]
    assert set(most_imported) <= set(top_ranked), (most_imported, top_ranked)


def test_the_map_is_the_same_byte_for_byte(mapped: tuple[Path, CodeMap]) -> None:
    root, code_map = mapped
    assert build_code_map(root, name=code_map.name).to_json() == code_map.to_json()


def test_known_facts_of_each_code_base() -> None:
    requests = build_code_map(fetch("requests"), name="requests")
    assert "src/requests/compat.py" in sorted(requests.ranks, key=lambda p: -requests.ranks[p])[:3]
    session = next(s for s in requests.by_path["src/requests/sessions.py"].symbols if s.qualname == "Session.request")
    assert session.signature.startswith("def request(self, method, url")
    assert ("src/requests/models.py", "PreparedRequest") in {(t.path, t.qualname) for t in requests.tests}
    express = build_code_map(fetch("express"), name="express")
    assert "lib/express.js" in {edge.target for edge in express.dependencies if edge.source == "index.js"}
    assert {point.kind for point in express.entry_points} >= {"npm script"}
    zod = build_code_map(fetch("zod"), name="zod")
    assert {"python", "javascript"} & {share.language for share in zod.languages} == {"javascript"}
    assert any(entry.language == "typescript" and entry.symbols for entry in zod.files)

"""The whole-repository views of the code map: dependencies, ranks, entry points, tests, README."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_harness import Cli
from fondation.codemap.build import build_code_map
from fondation.codemap.model import Dependency, EntryPoint, ReadmeSection
from fondation.codemap.readme import readme_sections
from fondation.domain.errors import ClassifiedError
from fondation.domain.jobs import ErrorKind
from sample_project import PROJECT, make_project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "shop", PROJECT)


def test_dependencies_carry_the_import_line(project: Path) -> None:
    code_map = build_code_map(project, name="shop")
    assert set(code_map.dependencies) >= {
        Dependency("src/shop/api.py", "src/shop/models.py", 1),
        Dependency("src/shop/api.py", "src/shop/store.py", 2),
        Dependency("src/shop/cli.py", "src/shop/api.py", 2),
        Dependency("src/shop/cli.py", "src/shop/models.py", 3),
        Dependency("src/shop/store.py", "src/shop/models.py", 1),
        Dependency("tests/test_models.py", "src/shop/models.py", 1),
    }
    # `from shop import api, store` names two submodules: the package's __init__ is not what it uses
    assert code_map.by_path["src/shop/cli.py"].imports == (
        "src/shop/api.py",
        "src/shop/models.py",
        "src/shop/store.py",
    )


def test_the_module_everything_imports_ranks_first_and_tests_are_not_ranked(project: Path) -> None:
    code_map = build_code_map(project, name="shop")
    ranked = sorted(code_map.ranks, key=lambda path: -code_map.ranks[path])
    assert ranked[0] == "src/shop/models.py"
    assert not any(path.startswith("tests/") for path in code_map.ranks)
    assert abs(sum(code_map.ranks.values()) - 1) < 1e-4


def test_entry_points_from_manifests_and_code(project: Path) -> None:
    code_map = build_code_map(project, name="shop")
    assert set(code_map.entry_points) == {
        EntryPoint("console script", "shop", "src/shop/cli.py", 6),
        EntryPoint("main", "src/shop/cli.py", "src/shop/cli.py", 6),
        EntryPoint("main", "src/shop/__main__.py", "src/shop/__main__.py", 1),
        EntryPoint("route", "POST /basket", "src/shop/api.py", 5),
        EntryPoint("npm bin", "shop-ui", "ui/index.js", 1),
        EntryPoint("npm main", "shop-ui", "ui/index.js", 1),
        EntryPoint("npm script", "build", "package.json", 6),
        EntryPoint("npm script", "test", "package.json", 7),
    }


def test_tests_are_linked_to_the_symbols_they_mention(project: Path) -> None:
    code_map = build_code_map(project, name="shop")
    links = {(link.path, link.qualname): link.tests for link in code_map.tests}
    assert links[("src/shop/models.py", "")] == ("tests/test_models.py",)
    assert links[("src/shop/models.py", "Item")] == ("tests/test_models.py",)
    assert links[("src/shop/models.py", "Item.price")] == ("tests/test_models.py",)
    assert ("src/shop/models.py", "Basket") not in links
    assert links[("src/shop/store.py", "")] == ("tests/helpers.py",)


def test_readme_sections_skip_badges_and_fenced_lines(project: Path) -> None:
    code_map = build_code_map(project, name="shop")
    assert code_map.readme == (
        ReadmeSection("Shop", "A tiny shop."),
        ReadmeSection("Install", "```\n# not a heading\npip install shop\n```"),
        ReadmeSection("Usage", "Run `shop`."),
    )


def test_rst_readme_headings() -> None:
    sections = readme_sections("Title\n=====\n\nIntro.\n\n.. image:: badge.svg\n\nMore\n~~~~\n\nText.\n")
    assert sections == (ReadmeSection("Title", "Intro."), ReadmeSection("More", "Text."))


def test_same_tree_gives_the_same_json_byte_for_byte(project: Path, tmp_path: Path) -> None:
    copy = make_project(tmp_path / "copy" / "shop", PROJECT)
    first = build_code_map(project, name="shop", commit="abc").to_json()
    assert build_code_map(project, name="shop", commit="abc").to_json() == first
    assert build_code_map(copy, name="shop", commit="abc").to_json() == first
    decoded = json.loads(first)
    assert decoded["name"] == "shop" and decoded["commit"] == "abc"


def test_too_many_files_is_a_permanent_error_with_the_figures(project: Path) -> None:
    with pytest.raises(ClassifiedError) as caught:
        build_code_map(project, name="shop", max_files=5)
    assert caught.value.kind is ErrorKind.PERMANENT
    assert str(caught.value) == "repository has more than 5 files to analyse, limit 5"


def test_large_files_are_listed_but_not_analysed(project: Path) -> None:
    code_map = build_code_map(project, name="shop", max_file_bytes=100)
    models = code_map.by_path["src/shop/models.py"]
    assert models.symbols == () and models.skipped == "larger than 0 KB: listed, not analysed"
    assert code_map.by_path["src/shop/store.py"].symbols


def test_map_command_prints_a_summary_and_writes_json(project: Path, tmp_path: Path, cli: Cli) -> None:
    summary = cli("map", str(project)).ok()
    assert "shop: 12 files" in summary
    assert "src/shop/models.py" in summary
    assert "entry point: console script shop (src/shop/cli.py:6)" in summary

    out = tmp_path / "map.json"
    cli("map", str(project), "--out", str(out)).ok()
    assert [entry["path"] for entry in json.loads(out.read_text())["files"]] == sorted(PROJECT)
    assert cli("map", str(project), "--json").ok() == out.read_text()


def test_map_command_refuses_a_bad_source_in_one_line(cli: Cli) -> None:
    assert "unsupported git transport" in cli("map", "ext::sh -c touch% /tmp/pwned").error(2)
    assert "no such directory" in cli("map", "./missing").error(2)


def test_a_broken_file_is_listed_with_the_reason(tmp_path: Path) -> None:
    root = make_project(tmp_path / "broken", {"ok.py": "x = 1\n", "bad.py": "def f(:\n"})
    code_map = build_code_map(root, name="broken")
    assert code_map.by_path["bad.py"].skipped == "syntax error at line 1"
    assert code_map.by_path["ok.py"].symbols == ()  # `x` is not a constant: lower case

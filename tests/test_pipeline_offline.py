"""The offline generator, step by step and end to end, on a small project written for the tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fondation.codemap.build import build_code_map
from fondation.pipeline.artifacts import course_documents, read_course, write_course
from fondation.pipeline.generate import generate_course, order_inversions
from fondation.pipeline.model import Course, GenerationOptions
from fondation.pipeline.offline.abstractions import offline_abstractions
from fondation.pipeline.offline.relationships import offline_order, offline_relationships
from fondation.pipeline.offline.wording import EN, FR
from fondation.pipeline.validation import InvalidStepOutput, validate_abstractions, validate_order
from fondation.pipeline.workspace import Workspace
from sample_project import make_project


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    root = make_project(tmp_path / "shop")
    return Workspace(root, build_code_map(root, name="shop"))


def _generate(workspace: Workspace, **options: object) -> Course:
    return generate_course(workspace, GenerationOptions(**options))  # type: ignore[arg-type]


def test_abstractions_are_the_important_files_and_exist_in_the_code_map(workspace: Workspace) -> None:
    abstractions = offline_abstractions(workspace, GenerationOptions())
    validate_abstractions(abstractions, workspace.code_map)
    names = [abstraction.name for abstraction in abstractions]
    # the most imported file comes first, named after the type that fills most of it
    assert names[0] == "Item"
    assert "shop/cli" in names  # a file of functions is named after its module
    assert {abstraction.files[0] for abstraction in abstractions} >= {
        "src/shop/models.py",
        "src/shop/store.py",
        "src/shop/api.py",
        "src/shop/cli.py",
    }
    assert "src/shop/models.py::Item" in abstractions[0].symbols


def test_relationships_have_real_evidence_and_the_order_puts_foundations_first(workspace: Workspace) -> None:
    abstractions = offline_abstractions(workspace, GenerationOptions())
    relationships = offline_relationships(workspace, abstractions, GenerationOptions())
    by_file = {abstraction.files[0]: abstraction.id for abstraction in abstractions}
    edges = {(edge.source, edge.target): edge for edge in relationships.edges}
    store_uses_models = edges[(by_file["src/shop/store.py"], by_file["src/shop/models.py"])]
    assert store_uses_models.evidence == "src/shop/store.py:1"
    assert store_uses_models.label == "imports Item"
    assert relationships.summary == "A tiny shop."
    order = offline_order(abstractions, relationships)
    validate_order(order, abstractions)
    assert order_inversions(relationships, order) == 0
    assert order.index(by_file["src/shop/models.py"]) < order.index(by_file["src/shop/store.py"])
    assert order.index(by_file["src/shop/store.py"]) < order.index(by_file["src/shop/cli.py"])


def test_validation_names_what_is_wrong(workspace: Workspace) -> None:
    abstractions = offline_abstractions(workspace, GenerationOptions())
    with pytest.raises(InvalidStepOutput, match=r"order must list every abstraction exactly once \(missing"):
        validate_order(tuple(abstraction.id for abstraction in abstractions[1:]), abstractions)
    broken = abstractions[0].__class__(abstractions[0].id, "X", "", ("src/shop/nowhere.py",), ())
    with pytest.raises(InvalidStepOutput, match=r"file 'src/shop/nowhere\.py' is not in the repository"):
        validate_abstractions((broken,), workspace.code_map)


def test_the_course_is_complete_grounded_and_linked(workspace: Workspace) -> None:
    course = _generate(workspace)
    paths = [page.path for page in course.pages]
    chapters = course.chapters()
    assert paths[0] == "index.md"
    assert [page.path for page in chapters] == sorted(page.path for page in chapters)
    assert all(re.fullmatch(r"chapters/\d\d-[a-z0-9-]+\.md", page.path) for page in chapters)
    assert len([page for page in course.pages if page.kind == "tutorial"]) == len(chapters)
    for figure in ("path_precision", "anchor_validity", "symbol_existence", "excerpt_fidelity"):
        assert course.quality[figure] == 1.0, (figure, course.quality["findings"])
    assert course.quality["mermaid_validity"] == 1.0
    assert course.quality["link_integrity"] == 1.0
    assert course.quality["core_coverage"] == 1.0
    assert course.quality["checked"]["excerpts"]["checked"] >= len(chapters)
    models = next(page for page in chapters if page.abstraction == course.order[0])
    text = models.markdown
    for heading in ("## Why it exists", "## A typical use", "## Key concepts", "## How it works", "## Diagrams"):
        assert heading in text
    assert "```mermaid\nflowchart LR" in text and "```mermaid\nsequenceDiagram" in text
    assert 'class Item:\n    """Something to sell."""' in text  # copied verbatim
    assert "[Overview](../index.md)" in text


def test_tutorials_run_the_tests_that_exercise_the_abstraction(workspace: Workspace) -> None:
    course = _generate(workspace)
    tutorial = next(page for page in course.pages if page.kind == "tutorial" and page.abstraction == course.order[0])
    assert "python -m pytest tests/test_models.py -k Item" in tutorial.markdown


def test_same_inputs_give_byte_identical_files(workspace: Workspace, tmp_path: Path) -> None:
    first = course_documents(_generate(workspace))
    again = course_documents(_generate(workspace))
    assert first == again
    write_course(first, tmp_path / "a")
    write_course(again, tmp_path / "b")
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for name in files_a:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert {"abstractions.yaml", "relationships.yaml", "order.yaml", "quality.json"} <= {str(p) for p in files_a}
    assert [document.path for document in read_course(tmp_path / "a")] == [
        page.path for page in _generate(workspace).pages
    ]


def test_french_course_uses_only_french_wording(workspace: Workspace) -> None:
    course = _generate(workspace, language="fr")
    text = "\n".join(page.markdown for page in course.pages)
    assert "## Pourquoi il existe" in text and "## Étapes" in text and "[Vue d'ensemble]" in text
    english_only = {
        value.split("{", 1)[0].strip()
        for key, value in EN.items()
        if value != FR[key] and len(value.split("{", 1)[0].strip()) > 12
    }
    leaked = [sentence for sentence in english_only if sentence in text]
    assert leaked == []


def test_both_languages_have_every_sentence_with_the_same_placeholders() -> None:
    assert EN.keys() == FR.keys()
    for key in EN:
        assert set(re.findall(r"\{(\w+)\}", EN[key])) == set(re.findall(r"\{(\w+)\}", FR[key])), key


def test_write_course_refuses_to_overwrite_a_folder_that_is_not_a_course(tmp_path: Path, workspace: Workspace) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(Exception, match="does not hold a course"):
        write_course(course_documents(_generate(workspace)), precious)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_a_repository_without_code_is_a_permanent_error(tmp_path: Path) -> None:
    root = make_project(tmp_path / "docs", {"README.md": "# Only words\n", "notes.txt": "nothing\n"})
    with pytest.raises(Exception, match="nothing to teach in docs"):
        _generate(Workspace(root, build_code_map(root, name="docs")))

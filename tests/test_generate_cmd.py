"""`fondation generate` as a user runs it: a course on disk, a job in the database, one-line failures."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from cli_harness import Cli
from sample_project import make_project


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_project(tmp_path / "shop")


def test_generate_writes_the_course_records_the_job_and_stores_the_course(cli: Cli, shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "course"
    summary = cli("generate", str(shop), "--out", str(out), "--format", "md,html,zip", TIMEOUT=120).ok()
    assert "job 1: generating the course of" in summary
    assert f"chapters written to {out}" in summary
    assert "quality: path precision 1.0, anchor validity 1.0" in summary
    assert f"open {out / 'index.md'}" in summary
    assert (out / "index.md").is_file() and (out / "site" / "index.html").is_file()
    assert sorted(p.name for p in (out / "chapters").iterdir()) == sorted(p.name for p in (out / "tutorials").iterdir())
    quality = json.loads((out / "quality.json").read_text())
    assert quality["excerpt_fidelity"] == 1.0 and quality["mermaid_validity"] == 1.0
    with zipfile.ZipFile(tmp_path / "course.zip") as archive:
        names = archive.namelist()
    assert "index.md" in names and not any(name.startswith("site/") for name in names)

    job = cli("jobs", "show", "1", "--json").json()
    assert job["status"] == "succeeded" and job["worker_id"].startswith("generate@")
    assert job["phase"] == "tutorials" and job["step"] == 6 and job["total_steps"] == 6
    chapters = len(list((out / "chapters").iterdir()))
    assert job["checkpoints"] == {
        "abstractions": 1, "relationships": 1, "order": 1, "chapter": chapters, "review": chapters, "tutorial": chapters
    }  # fmt: skip
    assert (
        f"checkpoints    abstractions 1, relationships 1, order 1, chapter {chapters}" in cli("jobs", "show", "1").ok()
    )
    phases = [e["data"]["phase"] for e in cli("jobs", "events", "1", "--json").json() if e["kind"] == "progress"]
    assert list(dict.fromkeys(phases)) == [
        "cloning", "mapping", "abstractions", "relationships", "order", "chapters", "review", "tutorials"
    ]  # fmt: skip
    (course,) = cli("courses", "list", "--json").json()
    pages = [path for path in out.rglob("*.md") if "site" not in path.relative_to(out).parts]
    assert course["job_id"] == 1 and course["documents"] == len(pages) + 4  # and the four artifacts

    exported = tmp_path / "exported"
    cli("export", "job:1", "--out", str(exported)).ok()
    for name in ("index.md", "quality.json", "order.yaml"):
        assert (exported / name).read_bytes() == (out / name).read_bytes()
    checked = cli("check-course", str(out), "--source", str(shop), "--json").json()
    assert checked["path_precision"] == 1.0 and checked["anchor_validity"] == 1.0


def test_generate_in_french(cli: Cli, shop: Path, tmp_path: Path) -> None:
    cli("generate", str(shop), "--out", str(tmp_path / "cours"), "--language", "fr", TIMEOUT=120).ok()
    chapter = next((tmp_path / "cours" / "chapters").iterdir()).read_text()
    assert chapter.startswith("# Chapitre 1 : ") and "## Pourquoi il existe" in chapter


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "gemini"], "provider must be one of offline, claude-cli, anthropic, openai, got 'gemini'"),
        (["--language", "de"], "language must be one of en, fr, got 'de'"),
        (["--format", "pdf"], "--format takes a comma-separated list of md, html, zip, got 'pdf'"),
    ],
)
def test_bad_options_are_refused_before_any_work(cli: Cli, shop: Path, args: list[str], message: str) -> None:
    assert message in cli("generate", str(shop), *args).error(2)
    assert cli("jobs", "list", "--json").json() == []


def test_a_failing_source_ends_the_job_dead_with_its_reason(cli: Cli, tmp_path: Path) -> None:
    empty = make_project(tmp_path / "words", {"README.md": "# Nothing but words\n"})
    line = cli("generate", str(empty), "--out", str(tmp_path / "out")).error(1)
    assert "nothing to teach in words" in line
    (job,) = cli("jobs", "list", "--json").json()
    assert (job["status"], job["error_kind"]) == ("dead", "permanent")
    assert not (tmp_path / "out").exists()


def test_an_existing_folder_that_is_not_a_course_is_left_alone(cli: Cli, shop: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert "does not hold a course" in cli("generate", str(shop), "--out", str(precious), TIMEOUT=120).error(1)
    assert (precious / "notes.txt").read_text() == "keep me"
    assert list(precious.iterdir()) == [precious / "notes.txt"]

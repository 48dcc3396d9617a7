"""Offline courses of real code bases (PyPI sdists, npm tarballs), held to the quality bar, diagrams
checked by the real mermaid parser, and the exported site read in headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.corpus import fetch
from playwright.sync_api import Browser

from browser import chromium, watched_page
from fondation.codemap.build import build_code_map
from fondation.pipeline.artifacts import course_documents, write_course
from fondation.pipeline.generate import generate_course
from fondation.pipeline.model import Course, GenerationOptions
from fondation.pipeline.workspace import Workspace
from fondation.render import render_site
from mermaid_real import real_mermaid_errors

CODE_BASES = ["click", "requests", "express", "zod"]
PERFECT = ("path_precision", "anchor_validity", "excerpt_fidelity", "mermaid_validity", "link_integrity")
_MERMAID = re.compile(r"```mermaid\n(.*?)\n```", re.DOTALL)


def _course(name: str, language: str = "en") -> Course:
    root = fetch(name)
    return generate_course(Workspace(root, build_code_map(root, name=name)), GenerationOptions(language=language))


@pytest.fixture(scope="module")
def courses() -> dict[str, Course]:
    return {name: _course(name) for name in CODE_BASES}


@pytest.mark.parametrize("name", CODE_BASES)
def test_courses_of_real_code_bases_meet_the_quality_bar(courses: dict[str, Course], name: str) -> None:
    course = courses[name]
    quality = course.quality
    assert {figure: quality[figure] for figure in PERFECT} == dict.fromkeys(PERFECT, 1.0), quality["findings"]
    assert quality["core_coverage"] >= 0.9
    assert len(course.chapters()) >= 5
    assert quality["checked"]["excerpts"]["checked"] >= len(course.chapters())
    assert quality["checked"]["anchors"]["checked"] >= 5 * len(course.chapters())


def test_every_diagram_parses_with_the_real_mermaid_parser(courses: dict[str, Course]) -> None:
    diagrams = [
        block for course in courses.values() for page in course.pages for block in _MERMAID.findall(page.markdown)
    ]
    # at least one per chapter (its neighbourhood) and the overview's architecture, per course
    assert len(diagrams) >= sum(len(course.chapters()) + 1 for course in courses.values())
    errors = [(diagram, error) for diagram, error in zip(diagrams, real_mermaid_errors(diagrams), strict=True) if error]
    assert errors == []


def test_a_real_course_is_byte_identical_run_to_run(courses: dict[str, Course]) -> None:
    assert course_documents(_course("click")) == course_documents(courses["click"])


def test_a_french_real_course_is_french(courses: dict[str, Course]) -> None:
    french = _course("requests", language="fr")
    assert french.quality["path_precision"] == 1.0
    chapter = french.chapters()[0].markdown
    assert "## Pourquoi il existe" in chapter and "## Why it exists" not in chapter


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_the_exported_site_shows_diagrams_and_working_links(
    courses: dict[str, Course], browser: Browser, tmp_path: Path
) -> None:
    folder = tmp_path / "course"
    write_course(course_documents(courses["requests"]), folder)
    index = render_site(folder, tmp_path / "site", title="requests")
    page, log = watched_page(browser)
    page.goto(index.as_uri())
    page.wait_for_function("document.documentElement.dataset.diagrams === 'done'", timeout=30_000)
    assert page.locator("pre.diagram svg").count() == 1
    first = courses["requests"].chapters()[0]
    page.locator("article").get_by_role("link", name=first.title).first.click()
    page.wait_for_url("**/" + first.path.replace(".md", ".html"))
    page.wait_for_function("document.documentElement.dataset.diagrams === 'done'", timeout=30_000)
    assert page.locator("h1").inner_text() == first.title
    assert page.locator("pre.diagram svg").count() >= 2  # the neighbourhood and the call sequence
    assert page.locator(".diagram-error, .diagram-error-note").count() == 0
    page.locator("nav.pager a[rel=next]").click()
    second = courses["requests"].chapters()[1]
    page.wait_for_url("**/" + second.path.replace(".md", ".html"))
    assert log.dialogs == [] and log.page_errors == [] and log.console_errors == []

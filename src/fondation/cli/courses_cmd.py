"""`fondation courses list|show`, `fondation export` and `fondation check-course`: stored courses and checks."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fondation.cli.common import JsonOption, open_queue
from fondation.cli.output import console, print_json, say
from fondation.config import load_settings
from fondation.domain.courses import CourseInfo
from fondation.domain.errors import ConfigError
from fondation.sources import validate_ref
from fondation.sources.acquire import parse_configured

courses_app = typer.Typer(help="Stored courses: every generation is kept.", no_args_is_help=True)

_SHOWN_FIGURES = ("path_precision", "anchor_validity", "excerpt_fidelity", "mermaid_validity", "core_coverage")
EXPORT_FORMATS = ("md", "html", "zip")


@courses_app.command("list")
def list_courses(
    repository: Annotated[str | None, typer.Option(help="Only this repository (its name or source).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List stored courses, newest first."""
    from fondation.store.courses import CourseStore

    with open_queue(load_settings()) as queue:
        found = CourseStore(queue.db).list(repository=repository, limit=limit)
    if as_json:
        print_json(found)
        return
    if not found:
        say("no course stored yet" + (f" for {repository}" if repository else ""))
        return
    table = Table(box=None)
    for column in ("id", "job", "repository", "commit", "lang", "provider", "pages", "quality", "created"):
        table.add_column(column)
    for course in found:
        table.add_row(
            str(course.id),
            str(course.job_id),
            course.repository,
            (course.commit_sha or "-")[:12],
            course.language,
            course.provider,
            str(course.documents),
            _quality_line(course.quality),
            course.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@courses_app.command("show")
def show_course(
    course_id: Annotated[int, typer.Argument(help="The course id (see `courses list`).", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Show a course's metadata, quality figures and documents."""
    from fondation.store.courses import CourseStore

    with open_queue(load_settings()) as queue:
        store = CourseStore(queue.db)
        course = store.get(course_id)
        documents = store.documents(course_id)
    if as_json:
        print_json(
            {"course": course, "documents": [{"path": d.path, "kind": d.kind, "title": d.title} for d in documents]}
        )
        return
    say(f"course {course.id} of {course.repository} ({course.source}), job {course.job_id}")
    say(f"commit {course.commit_sha or 'unknown'}, language {course.language}, provider {course.provider}")
    say(f"created {course.created_at.isoformat()}")
    say(f"quality: {_quality_line(course.quality, everything=True)}")
    for document in documents:
        say(f"  {document.path}  {document.title}")


def export(
    identifier: Annotated[
        str, typer.Argument(help="A course id, or job:ID for the course a job produced.", show_default=False)
    ],
    out: Annotated[Path, typer.Option(help="The folder (md, html) or file (zip) to write.", show_default=False)],
    output_format: Annotated[str, typer.Option("--format", help="md (folder), html (static site) or zip.")] = "md",
) -> None:
    """Write a stored course as a markdown folder, a static HTML site, or a zip of the markdown."""
    from fondation.pipeline.artifacts import write_course
    from fondation.render import render_site, zip_directory
    from fondation.store.courses import CourseStore

    if output_format not in EXPORT_FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {output_format!r}")
    with open_queue(load_settings()) as queue:
        store = CourseStore(queue.db)
        course = _find(store, identifier)
        documents = store.documents(course.id)
    if output_format == "md":
        write_course(documents, out)
        say(f"course {course.id} written to {out}")
        return
    with tempfile.TemporaryDirectory(prefix="fondation-export-") as work:
        folder = Path(work) / "course"
        write_course(documents, folder)
        if output_format == "html":
            index = render_site(folder, out, title=course.title, language=course.language)
            say(f"course {course.id} written as a site to {out} (open {index})")
        else:
            zip_directory(folder, out)
            say(f"course {course.id} written to {out}")


def _find(store: Any, identifier: str) -> CourseInfo:
    kind, _, number = identifier.rpartition(":")
    if not number.isdigit() or kind not in ("", "job", "course"):
        raise ConfigError(f"{identifier!r} is not a course id or job:ID")
    return store.for_job(int(number)) if kind == "job" else store.get(int(number))


def check_course(
    course_dir: Annotated[Path, typer.Argument(help="A course folder (index.md, chapters/, tutorials/).")],
    source: Annotated[str, typer.Option(help="The repository the course is about.", show_default=False)],
    ref: Annotated[str | None, typer.Option(help="Branch, tag or commit the course was generated from.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Check every path, anchor, symbol, excerpt, diagram and link of a course against its repository.

    Exits 1 when anything failed, so it can gate a pipeline.
    """
    from fondation.pipeline.artifacts import read_course
    from fondation.pipeline.generate import quality_figures
    from fondation.pipeline.grounding import Grounding
    from fondation.pipeline.run import fetch_and_map
    from fondation.pipeline.workspace import Workspace

    settings = load_settings()
    pages = {document.path: document.content for document in read_course(course_dir)}
    spec = parse_configured(source, settings)
    checked_ref = None if ref is None else validate_ref(ref)
    with tempfile.TemporaryDirectory(prefix="fondation-check-") as work:
        checkout, code_map = fetch_and_map(spec, ref=checked_ref, settings=settings, work_dir=Path(work))
        workspace = Workspace(checkout.root, code_map)
        report = Grounding(workspace).check(pages)
        figures = quality_figures(report, workspace, None, None)
    if as_json:
        print_json(figures)
    else:
        say(f"{len(pages)} pages checked against {spec.canonical}")
        say(f"quality: {_quality_line(figures, everything=True)}")
        for finding in report.findings:
            say(f"  {finding.page}: {finding.check}: {finding.detail}")
    if report.findings:
        raise typer.Exit(1)


def _quality_line(quality: dict[str, Any], *, everything: bool = False) -> str:
    keys = [key for key, value in quality.items() if isinstance(value, int | float)] if everything else _SHOWN_FIGURES
    return ", ".join(f"{key.replace('_', ' ')} {quality[key]}" for key in keys if key in quality) or "-"

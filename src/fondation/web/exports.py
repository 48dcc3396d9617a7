"""Course downloads: the markdown folder or the static HTML site, zipped, built on request.

Built into a temporary directory that is removed once the response has been sent, so downloads leave
nothing behind and always match the stored course.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from fondation.domain.courses import CourseInfo, NewDocument
from fondation.pipeline.artifacts import write_course
from fondation.render import render_site, zip_directory

EXPORT_FORMATS = ("md", "html")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "course"


def export_response(course: CourseInfo, documents: list[NewDocument], export_format: str) -> FileResponse:
    """A zip download of the course as markdown (`md`) or as a static site (`html`)."""
    work = Path(tempfile.mkdtemp(prefix="fondation-download-"))
    try:
        folder = work / "course"
        write_course(documents, folder)
        name = f"{_slug(course.repository)}-course-{course.id}"
        if export_format == "html":
            site = work / "site"
            render_site(folder, site, title=course.title, language=course.language)
            archive = zip_directory(site, work / f"{name}-site.zip")
        else:
            archive = zip_directory(folder, work / f"{name}.zip")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=archive.name,
        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
    )

"""The outputs a user asks for besides the markdown folder: a static HTML site, zip archives.

A course folder is always the markdown; `html` adds `site/` inside it (opened from `file://`, no
server needed), `zip` adds `<folder>.zip` beside it (and `<folder>-site.zip` when there is a site).
"""

from __future__ import annotations

from pathlib import Path

from fondation.render import render_site, zip_directory

SITE_DIR = "site"


def export_formats(course_dir: Path, formats: tuple[str, ...], *, title: str, language: str) -> dict[str, Path]:
    """Produce each requested format from the course folder; returns what was written, by format."""
    written: dict[str, Path] = {"md": course_dir}
    site = course_dir / SITE_DIR
    if "html" in formats:
        written["html"] = render_site(course_dir, site, title=title, language=language)
    if "zip" in formats:
        archive = course_dir.with_name(f"{course_dir.name}.zip")
        zip_directory(course_dir, archive, exclude=(SITE_DIR,))
        written["zip"] = archive
        if "html" in formats:
            site_archive = course_dir.with_name(f"{course_dir.name}-site.zip")
            zip_directory(site, site_archive)
            written["site zip"] = site_archive
    return written

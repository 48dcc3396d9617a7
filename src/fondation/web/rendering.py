"""Jinja2 templates and the course viewer's markdown: the HTML the pages are made of.

Templates autoescape everything; the only markup that reaches a page unescaped is course HTML from
`render_markdown`, which sanitises it with nh3 (course text is model output: untrusted).
"""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from fondation import __version__
from fondation.domain.courses import CourseInfo
from fondation.render.markdown import render_markdown
from fondation.web.i18n import negotiate, translator

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_CHAPTER = re.compile(r"chapter (\d+)/(\d+)")
#: Repository web hosts whose file views take `/blob/<commit>/<path>#L<line>` (GitHub, GitLab, Gitea...).
_BLOB_HOSTS = ("github", "gitlab", "gitea", "codeberg")


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> Any:
    """A page in the user's language, with what every page needs (the user, the CSRF token, `t`)."""
    principal = getattr(request.state, "principal", None)
    user = principal.user if principal else None
    language = negotiate(request.headers.get("accept-language"), user)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "csrf_token": principal.csrf_token if principal else None,
            "t": translator(language),
            "lang": language,
            "version": __version__,
            **values,
        },
        status_code=status_code,
    )


def _ago(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _chapter(message: str | None) -> str | None:
    match = _CHAPTER.search(message or "")
    return f"{match[1]}/{match[2]}" if match else None


TEMPLATES.env.filters["ago"] = _ago
TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.filters["chapter"] = _chapter


def course_url(course_id: int, path: str = "index.md") -> str:
    return f"/courses/{course_id}/" if path == "index.md" else f"/courses/{course_id}/{quote(path)}"


def course_page_html(course: CourseInfo, path: str, markdown: str) -> Markup:
    """A course page as sanitised HTML, its links pointing at the viewer and its `path:line` references
    at the repository's web view of the course's commit."""
    base = posixpath.dirname(path)

    def link(href: str) -> str:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.endswith(".md"):
            return href
        target = posixpath.normpath(posixpath.join(base, parts.path))
        if target.startswith("../"):
            return href
        return urlunsplit(("", "", course_url(course.id, target), "", parts.fragment))

    return Markup(render_markdown(markdown, link_rewriter=link, code_reference=_code_reference(course)))


def _code_reference(course: CourseInfo) -> Any:
    web_url = course.web_url
    if (
        not web_url
        or not course.commit_sha
        or not any(host in (urlsplit(web_url).hostname or "") for host in _BLOB_HOSTS)
    ):
        return None
    root = web_url.rstrip("/")
    return lambda path, line: f"{root}/blob/{course.commit_sha}/{quote(path)}#L{line}"

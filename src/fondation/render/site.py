"""A course folder rendered as a static HTML site that works offline, straight from file://.

One page per markdown page (overview, chapters, tutorials), a sidebar in course order, previous/next
links, and mermaid diagrams drawn in the browser by the vendored mermaid.min.js. Every URL is relative,
so the folder can be zipped, mailed, or opened from a USB stick, with no server and no CDN.
"""

from __future__ import annotations

import html
import posixpath
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fondation.render.markdown import highlight_css, render_markdown
from fondation.render.vendor import vendored_asset

__all__ = ["render_site"]

_STATIC = Path(__file__).parent / "static"
_SECTIONS = (("chapters", "Chapters"), ("tutorials", "Tutorials"))
_TITLE = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_NUMBER = re.compile(r"^(\d+)")


@dataclass(frozen=True)
class _Page:
    source: Path
    href: str  # the page's path in the site, relative to its root, e.g. "chapters/01-intro.html"
    title: str
    section: str


def _natural(path: Path) -> tuple[int, str]:
    """Chapter files sort by their number (01-, 02-, …, 10-), then by name."""
    number = _NUMBER.match(path.name)
    return (int(number.group(1)) if number else 1 << 30, path.name)


def _title(text: str, fallback: str) -> str:
    """A page's title: its first `# heading`, else the fallback."""
    match = _TITLE.search(text)
    return match.group(1).strip() if match else fallback


def _pages(course_dir: Path) -> list[_Page]:
    index = course_dir / "index.md"
    if not index.is_file():
        raise FileNotFoundError(f"{index} is missing: a course folder starts with its overview, index.md")
    pages = [_Page(index, "index.html", "Overview", "overview")]
    for section, _ in _SECTIONS:
        for source in sorted((course_dir / section).glob("*.md"), key=_natural):
            title = _title(source.read_text(encoding="utf-8"), source.stem)
            pages.append(_Page(source, f"{section}/{source.stem}.html", title, section))
    return pages


def _md_to_html(href: str) -> str:
    """Point a relative link to a markdown page at its HTML page, keeping any #fragment."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path.endswith(".md"):
        return href
    return urlunsplit(parts._replace(path=parts.path[: -len(".md")] + ".html"))


def _relative(page: _Page, target: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(page.href) or ".")


def _sidebar(page: _Page, pages: list[_Page], title: str) -> str:
    def item(other: _Page) -> str:
        current = ' aria-current="page"' if other == page else ""
        return f'<li><a href="{_relative(page, other.href)}"{current}>{html.escape(other.title)}</a></li>'

    parts = [
        f'<p class="course-title"><a href="{_relative(page, "index.html")}">{html.escape(title)}</a></p>',
        f"<ul>{item(pages[0])}</ul>",
    ]
    for section, label in _SECTIONS:
        members = [other for other in pages if other.section == section]
        if members:
            parts.append(f'<p class="nav-heading">{label}</p><ol>{"".join(item(m) for m in members)}</ol>')
    return "\n".join(parts)


def _pager(page: _Page, previous: _Page | None, following: _Page | None) -> str:
    links = []
    if previous is not None:
        href = _relative(page, previous.href)
        links.append(f'<a class="prev" rel="prev" href="{href}">← {html.escape(previous.title)}</a>')
    if following is not None:
        href = _relative(page, following.href)
        links.append(f'<a class="next" rel="next" href="{href}">{html.escape(following.title)} →</a>')
    return "".join(links)


def _document(page: _Page, body: str, *, title: str, language: str, sidebar: str, pager: str) -> str:
    root = _relative(page, "index.html")[: -len("index.html")]
    head_title = html.escape(title if page.section == "overview" else f"{page.title} · {title}")
    return f"""<!doctype html>
<html lang="{html.escape(language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{head_title}</title>
<link rel="stylesheet" href="{root}assets/site.css">
</head>
<body>
<a class="skip-link" href="#course-main">Skip to content</a>
<div class="layout">
<nav class="sidebar" aria-label="Course">
{sidebar}
</nav>
<main id="course-main">
<article class="page">
{body}
</article>
<nav class="pager" aria-label="Previous and next page">{pager}</nav>
</main>
</div>
<script src="{root}assets/mermaid.min.js"></script>
<script src="{root}assets/course.js"></script>
</body>
</html>
"""


def render_site(course_dir: Path, out_dir: Path, *, title: str, language: str = "en") -> Path:
    """Render the course in `course_dir` as HTML under `out_dir` and return the path of its index.html.

    Pages of an earlier render with the same names are overwritten; nothing else in `out_dir` is touched.
    Raises MissingAssetError (naming `make assets`) when the vendored mermaid.min.js is missing.
    """
    mermaid_js = vendored_asset("mermaid.min.js")
    pages = _pages(course_dir)
    assets = out_dir / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mermaid_js, assets / "mermaid.min.js")
    shutil.copyfile(_STATIC / "course.js", assets / "course.js")
    site_css = (_STATIC / "site.css").read_text(encoding="utf-8")
    (assets / "site.css").write_text(site_css + "\n" + highlight_css(), encoding="utf-8")
    for position, page in enumerate(pages):
        body = render_markdown(page.source.read_text(encoding="utf-8"), link_rewriter=_md_to_html)
        previous = pages[position - 1] if position else None
        following = pages[position + 1] if position + 1 < len(pages) else None
        document = _document(
            page,
            body,
            title=title,
            language=language,
            sidebar=_sidebar(page, pages, title),
            pager=_pager(page, previous, following),
        )
        target = out_dir / page.href
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(document, encoding="utf-8")
    return out_dir / "index.html"

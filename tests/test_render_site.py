"""render_site and zip_directory: the offline static site of a course, and its deterministic archive."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

import fondation.render.vendor
from fondation.render import MissingAssetError, render_site, zip_directory

COURSE = Path(__file__).parent / "fixtures" / "course"
PAGES = [
    "index.html",
    "chapters/01-job-table.html",
    "chapters/02-leases.html",
    "chapters/10-worker-loop.html",
    "tutorials/01-first-job.html",
    "tutorials/02-handler.html",
    "tutorials/03-recovery.html",
]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return render_site(COURSE, tmp_path / "site", title="Tasklet").parent


def _nav_hrefs(page: str) -> list[str]:
    sidebar = page.split('<nav class="sidebar"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'href="([^"]+)"', sidebar)


def test_one_page_per_markdown_page_and_the_assets(site: Path) -> None:
    files = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert files == sorted([*PAGES, "assets/course.js", "assets/mermaid.min.js", "assets/site.css"])
    assert ".highlight .k" in (site / "assets" / "site.css").read_text()


def test_links_to_markdown_pages_point_to_html_pages(site: Path) -> None:
    chapter = (site / "chapters" / "01-job-table.html").read_text()
    assert 'href="02-leases.html"' in chapter
    assert 'href="../index.html"' in chapter
    assert 'href="../tutorials/01-first-job.html#run-it"' in chapter
    assert ".md" not in "".join(re.findall(r'href="([^"]+)"', chapter))
    assert 'id="run-it"' in (site / "tutorials" / "01-first-job.html").read_text()


def test_sidebar_lists_overview_chapters_in_number_order_then_tutorials(site: Path) -> None:
    for name in PAGES:
        page = (site / name).read_text()
        expected = [os.path.relpath(target, os.path.dirname(name) or ".") for target in PAGES]
        assert _nav_hrefs(page) == [expected[0], *expected], name  # the course title, then every page
    page = (site / "chapters" / "02-leases.html").read_text()
    assert '<a href="02-leases.html" aria-current="page">Chapter 2: Leases</a>' in page
    assert '<a href="../index.html">Overview</a>' in page


def _pager_target(site: Path, name: str, rel: str) -> str | None:
    """The page a prev/next link of page `name` leads to, relative to the site root."""
    link = re.search(rf'rel="{rel}" href="([^"]+)"', (site / name).read_text())
    return os.path.normpath(os.path.join(os.path.dirname(name), link.group(1))) if link else None


def test_previous_and_next_follow_the_course_order(site: Path) -> None:
    assert [_pager_target(site, name, "prev") for name in PAGES] == [None, *PAGES[:-1]]
    assert [_pager_target(site, name, "next") for name in PAGES] == [*PAGES[1:], None]


def test_every_url_is_relative_so_the_site_works_offline(site: Path) -> None:
    for name in PAGES:
        page = (site / name).read_text()
        for tag, url in re.findall(r"<(script|link)[^>]*(?:src|href)=\"([^\"]+)\"", page):
            assert "://" not in url and not url.startswith("/"), (name, tag, url)
        assert (site / os.path.dirname(name) / re.search(r'<script src="([^"]+mermaid.min.js)"', page)[1]).is_file()


def test_page_titles_language_and_what_is_not_a_page(tmp_path: Path) -> None:
    site = render_site(COURSE, tmp_path / "fr", title="Tasklet <beta>", language="fr").parent
    index = (site / "index.html").read_text()
    assert '<html lang="fr">' in index
    assert "<title>Tasklet &lt;beta&gt;</title>" in index
    assert "<title>Chapter 2: Leases · Tasklet &lt;beta&gt;</title>" in (site / "chapters/02-leases.html").read_text()
    assert not list(site.rglob("*.json")) and not list(site.rglob("*.yaml"))


def test_malicious_course_content_is_sanitised(site: Path) -> None:
    chapter = (site / "chapters" / "01-job-table.html").read_text()
    assert re.findall(r"<script[^>]*>", chapter) == [
        '<script src="../assets/mermaid.min.js">',
        '<script src="../assets/course.js">',
    ]
    assert 'window.__xss = "script tag"' not in chapter  # the script's content is gone with it
    assert "onerror" not in chapter
    assert 'href="javascript' not in chapter


def test_missing_mermaid_names_make_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fondation.render.vendor, "VENDOR_DIR", tmp_path / "vendor")
    with pytest.raises(MissingAssetError, match="make assets"):
        render_site(COURSE, tmp_path / "site", title="Tasklet")
    assert not (tmp_path / "site").exists()


def test_a_course_without_an_overview_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"index\.md"):
        render_site(tmp_path, tmp_path / "site", title="Empty")


def test_zip_is_deterministic_sorted_and_leaves_out_symlinks(site: Path, tmp_path: Path) -> None:
    first = zip_directory(site, tmp_path / "a" / "course.zip")
    copy = shutil.copytree(site, tmp_path / "copy")
    os.utime(copy / "index.html", (1_700_000_000, 1_700_000_000))
    (copy / "link.html").symlink_to(copy / "index.html")
    second = zip_directory(copy, tmp_path / "b" / "course.zip")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert names == sorted(names) and "index.html" in names and "chapters/10-worker-loop.html" in names
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.read("index.html") == (site / "index.html").read_bytes()


def test_zip_inside_its_own_directory_leaves_itself_out(site: Path) -> None:
    zip_directory(site, site / "course.zip")
    with zipfile.ZipFile(site / "course.zip") as archive:
        assert "course.zip" not in archive.namelist() and not any(n.endswith(".partial") for n in archive.namelist())

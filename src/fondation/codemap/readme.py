"""The README's opening sections: what the authors say their project is, in their words.

The generator quotes them in the overview and uses them to tell what a module is for, so the
sections are kept as written (markdown), minus what is decoration rather than prose: badges, HTML
comments, images.
"""

from __future__ import annotations

import re

from fondation.codemap.model import ReadmeSection

README_NAMES = ("readme.md", "readme.markdown", "readme.rst", "readme.txt", "readme")
MAX_SECTIONS = 8
MAX_SECTION_CHARS = 2000

_ATX = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_DECORATION = re.compile(r"^\s*(\[!\[|!\[|<img\b|<p align|</?p>|<!--.*-->\s*$|\.\. image::|\.\. \|)", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def find_readme(paths: list[str]) -> str | None:
    """The root README, preferring markdown; None when the repository has none."""
    by_name = {path.lower(): path for path in paths if "/" not in path}
    return next((by_name[name] for name in README_NAMES if name in by_name), None)


def readme_sections(text: str) -> tuple[ReadmeSection, ...]:
    """Split a markdown or reStructuredText README into its first sections (heading, text)."""
    lines = _COMMENT.sub("", text).splitlines()
    sections: list[tuple[str, list[str]]] = [("", [])]
    fenced = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FENCE.match(line):
            fenced = not fenced
        following = lines[index + 1] if index + 1 < len(lines) else ""
        heading = None if fenced else _heading(line, following)
        if heading is not None:
            sections.append((heading, []))
            index += 1 if _ATX.match(line) else 2
            continue
        if fenced or not _DECORATION.match(line):
            sections[-1][1].append(line)
        index += 1
    found = []
    for heading, body in sections:
        content = "\n".join(body).strip()
        if heading or content:
            found.append(ReadmeSection(heading, _trim(content)))
    return tuple(found[:MAX_SECTIONS])


def _heading(line: str, following: str) -> str | None:
    atx = _ATX.match(line)
    if atx:
        return atx.group(2).strip()
    stripped = line.strip()
    if stripped and _UNDERLINE.match(following) and len(following.strip()) >= len(stripped):
        return stripped
    return None


def _trim(text: str) -> str:
    if len(text) <= MAX_SECTION_CHARS:
        return text
    cut = text.rfind("\n\n", 0, MAX_SECTION_CHARS)
    return text[: cut if cut > 0 else MAX_SECTION_CHARS].rstrip() + "\n…"

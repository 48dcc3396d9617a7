"""A course as files: the markdown pages, the structured step outputs (YAML) and `quality.json`.

The same `course_documents` list is written to a folder by `fondation generate`, stored in the
database with the job, and read back by `fondation export`, so every copy of a course is the same
bytes. Nothing here holds a date or a duration: the same commit and options give the same files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import yaml

from fondation.domain.courses import NewDocument
from fondation.domain.errors import FondationError
from fondation.pipeline.model import Course

#: The file that marks a folder as a course this tool wrote (and may therefore replace).
QUALITY_FILE = "quality.json"


def course_documents(course: Course) -> tuple[NewDocument, ...]:
    """Every file of the course, pages first in reading order, then the artifacts."""
    documents = [
        NewDocument(page.path, page.kind, page.title, position, page.markdown)
        for position, page in enumerate(course.pages)
    ]
    artifacts = {
        "abstractions.yaml": _yaml([asdict(item) for item in course.abstractions]),
        "relationships.yaml": _yaml(asdict(course.relationships)),
        "order.yaml": _yaml(list(course.order)),
        QUALITY_FILE: json.dumps(course.quality, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    }
    start = len(documents)
    documents += [
        NewDocument(name, "artifact", name, start + offset, text)
        for offset, (name, text) in enumerate(artifacts.items())
    ]
    return tuple(documents)


def write_course(documents: tuple[NewDocument, ...] | list[NewDocument], out_dir: Path) -> None:
    """Write the documents under `out_dir`, replacing an earlier course there but nothing else.

    The files are written to a sibling temporary folder first and swapped in at the end, so an
    interrupted write leaves the previous course (or nothing), never half of each.
    """
    out_dir = out_dir.resolve()
    check_course_target(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for document in documents:
            target = (staging / document.path).resolve()
            if not target.is_relative_to(staging):
                raise FondationError(f"course document path {document.path!r} leaves the course folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(document.content, encoding="utf-8")
        if out_dir.exists():
            retired = out_dir.with_name(f".{out_dir.name}-old-{os.getpid()}")
            out_dir.rename(retired)
            staging.rename(out_dir)
            shutil.rmtree(retired)
        else:
            staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def check_course_target(out_dir: Path) -> None:
    """Refuse a folder that holds anything but an earlier course: its files are not ours to replace."""
    if out_dir.is_file() or (out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / QUALITY_FILE).is_file()):
        raise FondationError(f"{out_dir} exists and does not hold a course: choose another --out or empty it")


def read_course(course_dir: Path) -> list[NewDocument]:
    """The markdown pages of a course folder (index, chapters, tutorials), in reading order."""
    pages = []
    index = course_dir / "index.md"
    if index.is_file():
        pages.append(index)
    for folder in ("chapters", "tutorials"):
        pages.extend(sorted((course_dir / folder).glob("*.md")))
    if not pages:
        raise FondationError(f"{course_dir} holds no course: no index.md, chapters/*.md or tutorials/*.md")
    documents = []
    for position, path in enumerate(pages):
        relative = path.relative_to(course_dir).as_posix()
        kind = "index" if relative == "index.md" else relative.split("/", 1)[0].rstrip("s")
        text = path.read_text(encoding="utf-8", errors="replace")
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), relative)
        documents.append(NewDocument(relative, kind, title, position, text))
    return documents


def _yaml(value: object) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)

"""A generated course as the store keeps it: metadata plus its markdown documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class NewDocument:
    """One page or artifact of a course (`chapters/01-x.md`, `quality.json`), in reading order."""

    path: str
    kind: str
    title: str
    position: int
    content: str


@dataclass(frozen=True, slots=True)
class NewCourse:
    """What a successful generation hands to the queue, stored with the job's completion."""

    title: str
    language: str
    commit_sha: str | None
    provider: str
    options: dict[str, Any]
    quality: dict[str, Any]
    documents: tuple[NewDocument, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class CourseInfo:
    """A stored course, without its documents."""

    id: int
    job_id: int
    repository_id: int
    repository: str
    source: str
    web_url: str | None
    commit_sha: str | None
    language: str
    title: str
    provider: str
    options: dict[str, Any]
    quality: dict[str, Any]
    created_at: datetime
    documents: int
    #: The user whose job made it (None: an operator's job).
    owner_id: int | None = None

"""Repositories as their users see them: each with its latest job and its number of stored courses.

A repository row is shared (one per canonical source); what makes it *a user's* is that the user
asked for a course of it. An admin (`owner_id=None`) sees every repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, true

from fondation.store.database import Database
from fondation.store.schema import courses, jobs, repositories


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    id: int
    source: str
    kind: str
    name: str
    web_url: str | None
    latest_job_id: int | None
    latest_status: str | None
    latest_percent: float | None
    latest_phase: str | None
    courses: int
    latest_course_id: int | None


class RepositoryStore:
    def __init__(self, database: Database) -> None:
        self.db = database

    def list(self, *, owner_id: int | None = None, limit: int = 200) -> list[RepositoryInfo]:
        """Repositories with at least one job (of `owner_id`, or anyone's), most recently used first."""
        return self._query(owner_id, None, limit)

    def get(self, repository_id: int, *, owner_id: int | None = None) -> RepositoryInfo | None:
        """One repository, if it has a job of `owner_id` (or, with None, any job)."""
        found = self._query(owner_id, repository_id, 1)
        return found[0] if found else None

    def _query(self, owner_id: int | None, repository_id: int | None, limit: int) -> list[RepositoryInfo]:
        mine = jobs.c.owner_id == owner_id if owner_id is not None else true()
        latest_job = (
            select(jobs.c.repository_id, func.max(jobs.c.id).label("job_id"))
            .where(mine)
            .group_by(jobs.c.repository_id)
            .subquery()
        )
        course_jobs = select(courses.c.id, courses.c.repository_id).join(jobs, jobs.c.id == courses.c.job_id)
        if owner_id is not None:
            course_jobs = course_jobs.where(jobs.c.owner_id == owner_id)
        visible_courses = course_jobs.subquery()
        course_figures = (
            select(
                visible_courses.c.repository_id,
                func.count().label("courses"),
                func.max(visible_courses.c.id).label("latest_course_id"),
            )
            .group_by(visible_courses.c.repository_id)
            .subquery()
        )
        query = (
            select(
                repositories,
                latest_job.c.job_id.label("latest_job_id"),
                jobs.c.status.label("latest_status"),
                jobs.c.percent.label("latest_percent"),
                jobs.c.phase.label("latest_phase"),
                func.coalesce(course_figures.c.courses, 0).label("course_count"),
                course_figures.c.latest_course_id,
            )
            .join(latest_job, latest_job.c.repository_id == repositories.c.id)
            .join(jobs, jobs.c.id == latest_job.c.job_id)
            .outerjoin(course_figures, course_figures.c.repository_id == repositories.c.id)
            .order_by(latest_job.c.job_id.desc())
            .limit(limit)
        )
        if repository_id is not None:
            query = query.where(repositories.c.id == repository_id)
        return self.db.read(lambda conn: [_info(row) for row in conn.execute(query).mappings()])


def _info(row: Any) -> RepositoryInfo:
    return RepositoryInfo(
        id=row["id"],
        source=row["source"],
        kind=row["kind"],
        name=row["name"],
        web_url=row["web_url"],
        latest_job_id=row["latest_job_id"],
        latest_status=row["latest_status"],
        latest_percent=row["latest_percent"],
        latest_phase=row["latest_phase"],
        courses=row["course_count"],
        latest_course_id=row["latest_course_id"],
    )

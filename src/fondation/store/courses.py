"""Courses and their documents in the database: written once, with the job's completion, never changed.

Generations of one repository sit side by side (one course per job); nothing here updates or
deletes a course, so a regeneration can never take another generation's documents with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, literal_column, select

from fondation.domain.courses import CourseInfo, NewCourse, NewDocument
from fondation.domain.errors import FondationError
from fondation.store.database import Database
from fondation.store.schema import courses, documents, jobs, repositories


class CourseNotFoundError(FondationError):
    """No course has the given id (or none was stored for the given job)."""


def insert_course(conn: Connection, database: Database, job_id: int, repository_id: int, course: NewCourse) -> int:
    """Store a course and its documents inside the caller's transaction; returns the course id."""
    course_id = conn.execute(
        insert(courses)
        .values(
            job_id=job_id,
            repository_id=repository_id,
            commit_sha=course.commit_sha,
            language=course.language,
            title=course.title,
            quality=course.quality,
            provider=course.provider,
            options=course.options,
            created_at=literal_column(database.dialect.now),
        )
        .returning(courses.c.id)
    ).scalar_one()
    if course.documents:
        conn.execute(
            insert(documents),
            [
                {
                    "course_id": course_id,
                    "path": document.path,
                    "kind": document.kind,
                    "title": document.title,
                    "position": document.position,
                    "content": document.content,
                }
                for document in course.documents
            ],
        )
    return int(course_id)


class CourseStore:
    """Reading stored courses: list, one by id or by job, and their documents."""

    def __init__(self, database: Database) -> None:
        self.db = database

    def list(
        self,
        *,
        repository: str | None = None,
        repository_id: int | None = None,
        owner_id: int | None = None,
        limit: int = 100,
    ) -> list[CourseInfo]:
        """Newest first; `repository` matches the repository's name or its canonical source; `owner_id`
        keeps the courses of that user's jobs."""
        query = _info_query().order_by(courses.c.id.desc()).limit(limit)
        if repository is not None:
            query = query.where((repositories.c.name == repository) | (repositories.c.source == repository))
        if repository_id is not None:
            query = query.where(courses.c.repository_id == repository_id)
        if owner_id is not None:
            query = query.where(jobs.c.owner_id == owner_id)
        return self.db.read(lambda conn: [_info(row) for row in conn.execute(query).mappings()])

    def get(self, course_id: int) -> CourseInfo:
        row = self.db.read(lambda conn: conn.execute(_info_query().where(courses.c.id == course_id)).mappings().first())
        if row is None:
            raise CourseNotFoundError(f"no course with id {course_id}")
        return _info(row)

    def for_job(self, job_id: int) -> CourseInfo:
        row = self.db.read(
            lambda conn: conn.execute(_info_query().where(courses.c.job_id == job_id)).mappings().first()
        )
        if row is None:
            raise CourseNotFoundError(f"job {job_id} has no stored course (it has not succeeded)")
        return _info(row)

    def document(self, course_id: int, path: str) -> NewDocument | None:
        query = select(
            documents.c.path, documents.c.kind, documents.c.title, documents.c.position, documents.c.content
        ).where(documents.c.course_id == course_id, documents.c.path == path)
        row = self.db.read(lambda conn: conn.execute(query).mappings().first())
        return None if row is None else NewDocument(**row)

    def outline(self, course_id: int) -> list[tuple[str, str, str]]:
        """(path, kind, title) of every document in reading order, without their content."""
        query = (
            select(documents.c.path, documents.c.kind, documents.c.title)
            .where(documents.c.course_id == course_id)
            .order_by(documents.c.position, documents.c.path)
        )
        return self.db.read(lambda conn: [tuple(row) for row in conn.execute(query)])

    def documents(self, course_id: int) -> list[NewDocument]:
        query = (
            select(documents.c.path, documents.c.kind, documents.c.title, documents.c.position, documents.c.content)
            .where(documents.c.course_id == course_id)
            .order_by(documents.c.position, documents.c.path)
        )
        return self.db.read(lambda conn: [NewDocument(**row) for row in conn.execute(query).mappings()])


def _info_query() -> Any:
    count = select(func.count()).select_from(documents).where(documents.c.course_id == courses.c.id).scalar_subquery()
    return (
        select(
            courses,
            repositories.c.name.label("repository"),
            repositories.c.source,
            repositories.c.web_url,
            count.label("document_count"),
            jobs.c.owner_id,
        )
        .join(repositories, repositories.c.id == courses.c.repository_id)
        .join(jobs, jobs.c.id == courses.c.job_id)
    )


def _info(row: Any) -> CourseInfo:
    return CourseInfo(
        id=row["id"],
        job_id=row["job_id"],
        repository_id=row["repository_id"],
        repository=row["repository"],
        source=row["source"],
        web_url=row["web_url"],
        commit_sha=row["commit_sha"],
        language=row["language"],
        title=row["title"],
        provider=row["provider"],
        options=row["options"] or {},
        quality=row["quality"] or {},
        created_at=row["created_at"],
        documents=row["document_count"],
        owner_id=row["owner_id"],
    )

"""Fetching a job, course or repository on behalf of a user: another user's things do not exist for them.

A thing the user may not see answers exactly like a thing that does not exist (404), so ids cannot be
probed to learn what other users are working on.
"""

from __future__ import annotations

from typing import Literal

from fastapi import HTTPException

from fondation.domain.courses import CourseInfo
from fondation.domain.errors import JobNotFoundError, JobStateError
from fondation.domain.jobs import Job
from fondation.domain.users import User
from fondation.store.courses import CourseNotFoundError
from fondation.store.repositories import RepositoryInfo
from fondation.web.context import WebContext


class NotVisible(Exception):
    """The thing does not exist, or the user may not see it (the two are indistinguishable on purpose)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no {what} with this id")
        self.what = what


def visible_job(context: WebContext, user: User, job_id: int) -> Job:
    try:
        job = context.queue.get(job_id)
    except JobNotFoundError:
        raise NotVisible("job") from None
    if not user.may_see(job.owner_id):
        raise NotVisible("job")
    return job


def change_job(context: WebContext, user: User, job_id: int, change: Literal["cancel", "retry"]) -> Job:
    """Cancel or retry one of the user's jobs; a job in a state that does not allow it is a 409 with the
    queue's own explanation."""
    visible_job(context, user, job_id)
    operation = context.queue.cancel if change == "cancel" else context.queue.retry
    try:
        return operation(job_id, actor=f"web:{user.name}")
    except JobStateError as error:
        raise HTTPException(409, str(error)) from None


def visible_course(context: WebContext, user: User, course_id: int) -> CourseInfo:
    try:
        course = context.courses.get(course_id)
    except CourseNotFoundError:
        raise NotVisible("course") from None
    if not user.may_see(course.owner_id):
        raise NotVisible("course")
    return course


def visible_repository(context: WebContext, user: User, repository_id: int) -> RepositoryInfo:
    found = context.repositories.get(repository_id, owner_id=None if user.is_admin else user.id)
    if found is None:
        raise NotVisible("repository")
    return found


def owner_filter(user: User) -> int | None:
    """The owner to filter lists by: the user, or nobody (everything) for an admin."""
    return None if user.is_admin else user.id

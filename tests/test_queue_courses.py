"""Courses stored with the job's completion, checkpoints under the lease, foreground claims — every backend."""

from __future__ import annotations

import pytest

from fondation.domain.courses import NewCourse, NewDocument
from fondation.domain.errors import LeaseLostError
from fondation.domain.jobs import EventKind, JobStatus, Lease
from fondation.queue import JobQueue
from fondation.store.courses import CourseNotFoundError, CourseStore
from helpers import advance_clock, source

LEASE = 30.0


def _course(title: str = "repo1", pages: int = 3) -> NewCourse:
    documents = tuple(
        NewDocument(f"chapters/{n:02d}-c.md", "chapter", f"Chapter {n}", n, f"# Chapter {n}\n") for n in range(1, pages)
    )
    return NewCourse(
        title=title,
        language="en",
        commit_sha="a" * 40,
        provider="offline",
        options={"language": "en"},
        quality={"path_precision": 1.0},
        documents=(NewDocument("index.md", "index", title, 0, "# Index\n"), *documents),
    )


def _claim(queue: JobQueue) -> Lease:
    (lease,) = queue.claim("w1", lease_seconds=LEASE)
    return lease


def test_complete_stores_the_course_and_its_documents_with_the_job(queue: JobQueue) -> None:
    queue.enqueue(source(1))
    lease = _claim(queue)
    job = queue.complete(lease, {"chapters": 2}, course=_course())
    assert job.status is JobStatus.SUCCEEDED
    store = CourseStore(queue.db)
    course = store.for_job(job.id)
    assert (course.repository, course.commit_sha, course.provider, course.documents) == (
        "repo1",
        "a" * 40,
        "offline",
        3,
    )
    assert course.quality == {"path_precision": 1.0} and course.options == {"language": "en"}
    assert [document.path for document in store.documents(course.id)] == [
        "index.md",
        "chapters/01-c.md",
        "chapters/02-c.md",
    ]
    assert store.list(repository="repo1")[0].id == course.id


def test_a_stale_holder_stores_no_course(queue: JobQueue) -> None:
    queue.enqueue(source(1))
    stale = _claim(queue)
    advance_clock(queue.db, LEASE + 1)
    assert len(queue.reclaim_expired(actor="reaper")) == 1
    advance_clock(queue.db, 3600)  # past the retry backoff
    fresh = _claim(queue)
    with pytest.raises(LeaseLostError):
        queue.complete(stale, {}, course=_course("stale"))
    assert CourseStore(queue.db).list() == []
    queue.complete(fresh, {}, course=_course("fresh"))
    assert [course.title for course in CourseStore(queue.db).list()] == ["fresh"]


def test_generations_of_one_repository_are_kept_side_by_side(queue: JobQueue) -> None:
    for title in ("first", "second"):
        queue.enqueue(source(1), force=True)
        queue.complete(_claim(queue), {}, course=_course(title))
    store = CourseStore(queue.db)
    courses = store.list(repository="repo1")
    assert [course.title for course in courses] == ["second", "first"]
    assert all(len(store.documents(course.id)) == 3 for course in courses)
    with pytest.raises(CourseNotFoundError):
        store.get(999_999)


def test_checkpoints_are_fenced_and_immutable(queue: JobQueue) -> None:
    queue.enqueue(source(1))
    lease = _claim(queue)
    assert queue.checkpoint(lease, "abstractions", "k1", [{"id": "a"}]) is True
    assert queue.checkpoint(lease, "abstractions", "k1", [{"id": "changed"}]) is False
    assert queue.checkpoint(lease, "order", "k2", ["a"]) is True
    assert queue.checkpoints(lease.job_id) == [("abstractions", "k1", [{"id": "a"}]), ("order", "k2", ["a"])]
    queue.complete(lease, {})
    with pytest.raises(LeaseLostError):
        queue.checkpoint(lease, "chapters", "k3", [])


def test_enqueue_claimed_runs_the_job_in_the_foreground(queue: JobQueue) -> None:
    queue.enqueue(source(1))  # an active job for the same source does not stop a foreground run
    result = queue.enqueue(source(1), claim_as="generate@host:1", lease_seconds=LEASE)
    job = result.job
    assert result.created and job.status is JobStatus.RUNNING
    assert (job.attempts, job.lease_token, job.worker_id) == (1, 1, "generate@host:1")
    assert [event.kind for event in queue.events(job.id)] == [EventKind.ENQUEUED, EventKind.CLAIMED]
    assert [lease.job_id for lease in queue.claim("w1", lease_seconds=LEASE)] != [job.id]
    queue.heartbeat(Lease(job), lease_seconds=LEASE)
    assert queue.complete(Lease(job), {}).status is JobStatus.SUCCEEDED

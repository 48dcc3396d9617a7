"""Course generation as a queued job, run by real workers: same course as `generate`, once, even when killed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fondation.codemap.build import build_code_map
from fondation.domain.jobs import EventKind, JobStatus
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.pipeline.artifacts import course_documents
from fondation.pipeline.generate import generate_course
from fondation.pipeline.model import GenerationOptions
from fondation.pipeline.workspace import Workspace
from fondation.queue import JobQueue
from fondation.store.courses import CourseStore
from sample_project import make_project
from worker_harness import StartWorker, WorkerProcess, finished, reached, wait_until

COURSE_JOB = "fondation.worker.course_job:run"
STEPS = ["cloning", "mapping", "abstractions", "relationships", "order", "chapters", "review", "tutorials"]


def _local(root: Path) -> SourceSpec:
    return SourceSpec(SourceKind.LOCAL, str(root), root.name)


def test_a_submitted_job_stores_the_same_course_as_generate(
    queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    root = make_project(tmp_path / "shop")
    options = GenerationOptions(language="fr", max_chapters=4)
    job = queue.enqueue(_local(root), options=options.to_dict()).job
    start_worker("w1", FONDATION_JOB_HANDLER=COURSE_JOB)
    done = wait_until(lambda: finished(queue, job.id), timeout=60, what="the course job to finish")
    assert done.status is JobStatus.SUCCEEDED, done.error_message
    assert done.result["chapters"] == 4 and "course_file" not in done.result

    store = CourseStore(queue.db)
    course = store.for_job(job.id)
    stored = [(d.path, d.content) for d in store.documents(course.id)]
    expected = course_documents(generate_course(Workspace(root, build_code_map(root, name="shop")), options))
    assert stored == [(d.path, d.content) for d in expected]
    assert course.language == "fr" and course.quality["path_precision"] == 1.0

    phases = [event.data["phase"] for event in queue.events(job.id) if event.kind is EventKind.PROGRESS]
    assert list(dict.fromkeys(phases)) == STEPS
    steps = Counter(step for step, _, _ in queue.checkpoints(job.id))
    assert steps == {"abstractions": 1, "relationships": 1, "order": 1, "chapter": 4, "review": 4, "tutorial": 4}


def test_a_job_killed_mid_way_is_retried_and_stores_exactly_one_course(
    queue: JobQueue,
    start_worker,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    root = make_project(tmp_path / "shop")
    job = queue.enqueue(_local(root), options=GenerationOptions().to_dict()).job
    slow = {"FONDATION_JOB_HANDLER": "job_handlers:slow_course", "FONDATION_TEST_PROGRESS_DELAY": "0.4"}
    first: WorkerProcess = start_worker("w1", **slow)
    wait_until(
        lambda: reached(queue, job.id, "chapters"),
        timeout=60,
        what="the first attempt to reach the chapters",
    )
    first.kill()
    start_worker("w2", **slow)
    done = wait_until(lambda: finished(queue, job.id), timeout=90, what="the retried job to finish")
    assert (done.status, done.attempts, done.worker_id) == (JobStatus.SUCCEEDED, 2, "w2")
    courses = CourseStore(queue.db).list()
    assert [course.job_id for course in courses] == [job.id]
    # the second attempt reused what the first had checkpointed, and stored each output once
    keys = [key for _, key, _ in queue.checkpoints(job.id)]
    chapters = done.result["chapters"]
    assert len(keys) == len(set(keys)) == 3 + 3 * chapters
    course = CourseStore(queue.db).for_job(job.id)
    assert course.quality["reused"] >= 3 and course.quality["reused"] + course.quality["regenerated"] == len(keys)

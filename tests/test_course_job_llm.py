"""LLM course jobs on real workers: resumed after a killed child, dead on a bad key, counted in the metrics."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
from prometheus_client.parser import text_string_to_metric_families

from fake_llm_servers import FakeOpenAI
from fondation.domain.jobs import EventKind, JobStatus
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.pipeline.model import GenerationOptions
from fondation.queue import JobQueue
from fondation.store.courses import CourseStore
from sample_project import make_project
from test_pipeline_llm import Model
from worker_harness import StartWorker, finished, reached, wait_until

OPENAI = GenerationOptions(provider="openai", model="local-model", max_chapters=3).to_dict()


def test_a_killed_child_is_retried_and_repeats_no_finished_step(
    queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    root = make_project(tmp_path / "shop")
    model = Model(root)
    with FakeOpenAI(model) as server:
        job = queue.enqueue(SourceSpec(SourceKind.LOCAL, str(root), "shop"), options=OPENAI).job
        worker = start_worker(
            "w1",
            FONDATION_JOB_HANDLER="job_handlers:slow_course",
            FONDATION_TEST_PROGRESS_DELAY="0.4",
            FONDATION_OPENAI_BASE_URL=server.url,
        )
        wait_until(lambda: reached(queue, job.id, "chapters"), timeout=60, what="the job to reach its chapters")
        (child,) = psutil.Process(worker.popen.pid).children()
        child.send_signal(signal.SIGKILL)
        done = wait_until(lambda: finished(queue, job.id), timeout=120, what="the retried job to finish")
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2), done.error_message
    failed = [event for event in queue.events(job.id) if event.kind is EventKind.FAILED]
    assert "killed by SIGKILL" in (failed[0].reason or "")
    # the steps finished before the kill were not asked again
    assert model.calls["abstractions"] == model.calls["relationships"] == model.calls["order"] == 1
    course = CourseStore(queue.db).for_job(job.id)
    assert course.quality["reused"] >= 3
    assert done.result["usage"]["calls"] == sum(model.calls.values()) - (
        model.calls["abstractions"] + model.calls["relationships"] + model.calls["order"]
    )  # the second attempt paid only for what it made

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(worker.metrics())
        for sample in family.samples
    }
    labels = (("direction", "input"), ("model", "local-model"), ("provider", "openai"))
    assert samples[("fondation_llm_tokens_total", labels)] > 0


def test_a_bad_key_ends_the_job_dead_after_one_attempt_and_degrades_health(
    queue: JobQueue, start_worker: StartWorker, tmp_path: Path
) -> None:
    root = make_project(tmp_path / "shop")
    with FakeOpenAI(Model(root), api_key="sk-the-right-key-0123456789") as server:
        job = queue.enqueue(SourceSpec(SourceKind.LOCAL, str(root), "shop"), options=OPENAI).job
        worker = start_worker(
            "w1",
            FONDATION_JOB_HANDLER="fondation.worker.course_job:run",
            FONDATION_OPENAI_BASE_URL=server.url,
            FONDATION_OPENAI_API_KEY="sk-a-wrong-key-0123456789abc",
        )
        done = wait_until(lambda: finished(queue, job.id), timeout=60, what="the job to end")
        assert server.calls("/v1/chat/completions") == 1
    assert (done.status, done.attempts, done.error_kind) == (JobStatus.DEAD, 1, done.error_kind.AUTH)
    assert "sk-a-wrong-key" not in (done.error_message or "")
    status, health = worker.health()
    assert health["checks"]["provider"]["status"] == "degraded"
    assert health["checks"]["provider"]["detail"].startswith("provider auth: ")
    assert "sk-a-wrong-key" not in str(health)
    assert status == 200 and health["status"] == "degraded"

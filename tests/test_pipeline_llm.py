"""The LLM pipeline through the real OpenAI client against a local server speaking its wire protocol.

The server answers with a scripted model (`bench.scripted_model`) that answers like a good model
would; each test then breaks one thing — malformed JSON, invalid answers, a rate limit, a bad key,
a budget, a crash — and checks what the pipeline does about it, counting calls at the server.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from bench.scripted_model import ScriptedModel, step_of

from fake_llm_servers import FakeOpenAI, Reply
from fondation.config import load_settings
from fondation.domain.errors import ClassifiedError
from fondation.domain.jobs import ErrorKind
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.pipeline.model import GenerationOptions
from fondation.pipeline.run import Generation, run_generation
from fondation.pipeline.steps import StepCache
from sample_project import make_project

PERFECT = ("path_precision", "anchor_validity", "symbol_existence", "excerpt_fidelity", "mermaid_validity")


class Model:
    """The scripted model behind the fake server, with per-step call counts and optional mischief."""

    def __init__(self, root: Path, prompt_of: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.scripted = ScriptedModel(root)
        self.calls: Counter[str] = Counter()
        self.prompts: list[str] = []
        self.override: Callable[[str, int, str], Reply | None] = lambda step, count, prompt: None
        #: Where the prompt is in a request body (the last chat message, for the OpenAI protocol).
        self.prompt_of = prompt_of or (lambda body: body["messages"][-1]["content"])

    def __call__(self, body: dict[str, Any]) -> Reply:
        prompt = self.prompt_of(body)
        step = step_of(prompt)
        self.calls[step] += 1
        self.prompts.append(prompt)
        special = self.override(step, self.calls[step], prompt)
        if special is not None:
            return special
        answer = self.scripted.answer(prompt)
        return Reply.text(answer, input_tokens=len(prompt) // 4, output_tokens=len(answer) // 4)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return make_project(tmp_path / "shop")


def _generate(
    root: Path,
    server: FakeOpenAI,
    tmp_path: Path,
    *,
    cache: StepCache | None = None,
    **options: Any,
) -> Generation:
    settings = load_settings(openai_base_url=server.url, model="local-model", retry_base_seconds=0.1)
    work = tmp_path / f"work-{time.monotonic_ns()}"
    work.mkdir()
    return run_generation(
        SourceSpec(SourceKind.LOCAL, str(root), root.name),
        ref=None,
        options=GenerationOptions(provider="openai", **options),
        settings=settings,
        work_dir=work,
        cache=cache,
    )


def test_an_llm_course_is_complete_grounded_and_accounted(shop: Path, tmp_path: Path) -> None:
    model = Model(shop)
    with FakeOpenAI(model) as server:
        course = _generate(shop, server, tmp_path, max_chapters=4).course
    chapters = len(course.chapters())
    assert chapters == 4
    assert model.calls["abstractions"] == model.calls["relationships"] == model.calls["order"] == 1
    assert model.calls["chapter"] == model.calls["tutorial"] == chapters
    assert sum(model.calls.values()) <= 3 + 3 * chapters
    assert {figure: course.quality[figure] for figure in PERFECT} == dict.fromkeys(PERFECT, 1.0)
    assert course.quality["fallbacks"] == []
    usage = course.quality["usage"]
    assert usage["calls"] == sum(model.calls.values()) and usage["provider"] == "openai"
    assert usage["input_tokens"] == sum(len(prompt) // 4 for prompt in model.prompts)
    assert "This chapter explains this part of the code" in course.chapters()[0].markdown


def test_french_prompts_ask_for_french_and_the_course_is_french(shop: Path, tmp_path: Path) -> None:
    model = Model(shop)
    with FakeOpenAI(model) as server:
        course = _generate(shop, server, tmp_path, language="fr", max_chapters=3).course
    assert all(
        "Write every sentence of prose in French (français)" in p for p in model.prompts if step_of(p) != "order"
    )
    chapter = course.chapters()[0].markdown
    assert chapter.startswith("# Chapitre 1 : ") and "Ce chapitre explique" in chapter


def test_malformed_json_is_sent_back_and_repaired(shop: Path, tmp_path: Path) -> None:
    model = Model(shop)
    model.override = lambda step, count, prompt: (
        Reply.text('{"abstractions": [ oops') if step == "abstractions" and count == 1 else None
    )
    with FakeOpenAI(model) as server:
        course = _generate(shop, server, tmp_path, max_chapters=3).course
    assert model.calls["abstractions"] == 2
    repair = model.prompts[1]
    assert "Your previous answer was" in repair and "It was rejected: the answer holds no JSON object" in repair
    assert course.quality["fallbacks"] == []


def test_answers_that_stay_invalid_fall_back_to_the_offline_step(shop: Path, tmp_path: Path) -> None:
    invalid = (
        '{"summary": "x", "relationships": [{"source": "nope", "target": "nada", "label": "l", "evidence": "x:1"}]}'
    )
    model = Model(shop)
    model.override = lambda step, count, prompt: Reply.text(invalid) if step == "relationships" else None
    with FakeOpenAI(model) as server:
        course = _generate(shop, server, tmp_path, max_chapters=3).course
    assert model.calls["relationships"] == 3  # the question, then two repair requests
    assert course.quality["fallbacks"] == [
        {
            "step": "relationships",
            "reason": "relationships: model answer rejected after 2 repairs: relationship 'nope' → 'nada' names an "
            "unknown abstraction",
        }
    ]
    assert course.relationships.summary == "A tiny shop."  # the offline answer stands
    assert course.quality["path_precision"] == 1.0


def test_a_rate_limit_is_waited_out(shop: Path, tmp_path: Path) -> None:
    model = Model(shop)
    model.override = lambda step, count, prompt: (
        Reply.error(429, "slow down", error_type="rate_limit_error", headers={"retry-after": "1"})
        if step == "abstractions" and count == 1
        else None
    )
    with FakeOpenAI(model) as server:
        started = time.monotonic()
        course = _generate(shop, server, tmp_path, max_chapters=3).course
    assert model.calls["abstractions"] == 2 and time.monotonic() - started >= 1.0
    assert course.quality["fallbacks"] == []


def test_a_bad_key_is_an_auth_error_within_seconds_and_one_call(shop: Path, tmp_path: Path) -> None:
    model = Model(shop)
    with FakeOpenAI(model, api_key="sk-right-key-0123456789abcdef") as server:
        started = time.monotonic()
        with pytest.raises(ClassifiedError) as caught:
            _generate(shop, server, tmp_path)
        assert time.monotonic() - started < 10
        assert server.calls("/v1/chat/completions") == 1
    assert caught.value.kind is ErrorKind.AUTH


def test_the_budget_stops_the_job_and_keeps_what_was_made(shop: Path, tmp_path: Path) -> None:
    model = Model(shop)
    stored: dict[str, Any] = {}
    cache = StepCache(checkpoint=lambda step, key, data: stored.setdefault(key, (step, data)))
    with FakeOpenAI(model) as server, pytest.raises(ClassifiedError) as caught:
        _generate(shop, server, tmp_path, cache=cache, max_tokens=3_000)
    assert caught.value.kind is ErrorKind.BUDGET
    assert "token budget reached" in caught.value.message and "limit 3,000" in caught.value.message
    steps = Counter(step for step, _ in stored.values())
    assert steps["abstractions"] == 1 and sum(steps.values()) == sum(model.calls.values())


def test_a_resumed_generation_repeats_no_call_that_succeeded(shop: Path, tmp_path: Path) -> None:
    class Crash(Exception):
        pass

    stored: dict[str, Any] = {}

    def keep_then_crash(step: str, key: str, data: Any) -> None:
        stored[key] = data
        if step == "chapter":
            raise Crash  # as if the process died right after the first chapter was checkpointed

    first = Model(shop)
    with FakeOpenAI(first) as server, pytest.raises(Crash):
        _generate(shop, server, tmp_path, cache=StepCache(checkpoint=keep_then_crash), max_chapters=3, parallel=1)
    assert (first.calls["order"], first.calls["chapter"]) == (1, 1)

    second = Model(shop)
    with FakeOpenAI(second) as server:
        course = _generate(shop, server, tmp_path, cache=StepCache(known=dict(stored)), max_chapters=3).course
    assert second.calls["abstractions"] == second.calls["relationships"] == second.calls["order"] == 0
    assert second.calls["chapter"] == 2  # the first chapter was kept
    assert course.quality["reused"] == 4


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_a_one_file_commit_regenerates_only_the_affected_chapter(shop: Path, tmp_path: Path) -> None:
    _git(shop, "init", "-q")
    _git(shop, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "one", "--allow-empty")
    _git(shop, "add", "-A")
    _git(shop, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "all")
    stored: dict[str, Any] = {}
    cache = StepCache(checkpoint=lambda step, key, data: stored.setdefault(key, data))
    first = Model(shop)
    with FakeOpenAI(first) as server:
        before = _generate(shop, server, tmp_path, cache=cache, max_chapters=4).course
    store = shop / "src/shop/store.py"
    store.write_text(store.read_text().replace("return Item()", "return Item()  # the same, said again"))
    _git(shop, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "touch store")

    second = Model(shop)
    with FakeOpenAI(second) as server:
        after = _generate(shop, server, tmp_path, cache=StepCache(known=dict(stored)), max_chapters=4).course
    assert second.calls["abstractions"] == second.calls["relationships"] == second.calls["order"] == 0
    # exactly the chapters whose material showed the changed line: store's own, and the one that quotes it as a caller
    affected = [p for p in first.prompts if step_of(p) == "chapter" and "return Item()" in p]
    assert 1 <= second.calls["chapter"] == len(affected) < len(before.chapters())
    assert second.calls["tutorial"] <= len(affected)
    assert after.quality["reused"] == before.quality["regenerated"] - after.quality["regenerated"]
    assert after.quality["reused"] >= 3 + len(before.chapters())

"""A whole course written through the real Claude Code CLI (node_modules/.bin/claude) against a local
server speaking the Anthropic Messages API: the course, a repair, a 401, a 429."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from bench.scripted_model import STEP_MARKERS

from fake_llm_servers import FakeAnthropic, Reply
from fondation.config import load_settings
from fondation.domain.errors import ClassifiedError
from fondation.domain.jobs import ErrorKind
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.pipeline.model import GenerationOptions
from fondation.pipeline.run import Generation, run_generation
from sample_project import make_project
from test_pipeline_llm import Model

CLAUDE = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "claude"
TOKEN = "sk-ant-oat01-" + "t" * 40


def _prompt(body: dict[str, Any]) -> str:
    """Our prompt among the blocks the CLI sends (it adds context blocks of its own)."""
    texts = []
    for message in body["messages"]:
        content = message["content"]
        blocks = [content] if isinstance(content, str) else [b.get("text", "") for b in content if isinstance(b, dict)]
        texts += blocks
    return next((text for text in reversed(texts) if any(m in text for m in STEP_MARKERS.values())), "")


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    assert CLAUDE.exists(), f"{CLAUDE} is missing: run `make assets` (it installs the CLI pinned in package.json)"
    return make_project(tmp_path / "shop")


def _generate(root: Path, server: FakeAnthropic, tmp_path: Path, **options: Any) -> Generation:
    settings = load_settings(
        claude_command=str(CLAUDE),
        claude_config_dir=tmp_path / "claude-config",
        claude_oauth_token=TOKEN,
        anthropic_base_url=server.origin,
    )
    (tmp_path / "work").mkdir(exist_ok=True)
    return run_generation(
        SourceSpec(SourceKind.LOCAL, str(root), root.name),
        ref=None,
        options=GenerationOptions(provider="claude-cli", max_chapters=2, **options),
        settings=settings,
        work_dir=tmp_path / "work",
    )


def test_the_real_cli_writes_a_whole_course_with_a_repair_and_a_rate_limit(shop: Path, tmp_path: Path) -> None:
    broken = {
        "abstractions": Reply.text("Sure! Here is what I think: {not json"),
        "relationships": Reply.error(429, "rate limited", error_type="rate_limit_error", headers={"retry-after": "1"}),
    }
    model = Model(shop, prompt_of=_prompt)
    model.override = lambda step, count, prompt: broken.get(step) if count == 1 else None
    with FakeAnthropic(model) as server:
        course = _generate(shop, server, tmp_path, parallel=2).course
        assert all(request.headers.get("x-api-key") != TOKEN for request in server.requests)
    assert model.calls["abstractions"] == 2  # asked, then repaired
    assert model.calls["relationships"] == 2  # rate limited, then retried
    assert model.calls["chapter"] == model.calls["tutorial"] == len(course.chapters()) == 2
    assert course.quality["fallbacks"] == []
    assert course.quality["path_precision"] == course.quality["excerpt_fidelity"] == 1.0
    usage = course.quality["usage"]
    assert usage["provider"] == "claude-cli"
    assert usage["calls"] == sum(model.calls.values()) - 1  # every answered call; the rate-limited one was not
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0


def test_a_rejected_token_is_auth_within_seconds_on_the_first_call(shop: Path, tmp_path: Path) -> None:
    model = Model(shop, prompt_of=_prompt)
    refused = Reply.error(401, "invalid bearer token", error_type="authentication_error")
    model.override = lambda step, count, prompt: refused
    with FakeAnthropic(model) as server:
        started = time.monotonic()
        with pytest.raises(ClassifiedError) as caught:
            _generate(shop, server, tmp_path)
        assert time.monotonic() - started < 20
    assert caught.value.kind is ErrorKind.AUTH
    assert model.calls["abstractions"] <= 2 and sum(model.calls.values()) == model.calls["abstractions"]
    assert TOKEN not in caught.value.message

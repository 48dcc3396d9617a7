"""A course written by a real (tiny) local model: SmolLM2-135M served by llama.cpp's OpenAI-compatible
server, driven by the `openai` provider. Its answers are often unusable — which is the point: the job
must still complete, repairing and falling back, and the course must pass the grounding gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from fondation.config import load_settings
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.pipeline.model import GenerationOptions
from fondation.pipeline.run import run_generation
from local_llm import MODEL_ALIAS
from sample_project import make_project

pytestmark = pytest.mark.local_llm


@pytest.mark.parametrize("language", ["en", "fr"])
def test_a_real_local_model_writes_a_course_that_passes_the_grounding_gate(
    local_llm_url: str, tmp_path: Path, language: str
) -> None:
    root = make_project(tmp_path / "shop")
    settings = load_settings(
        openai_base_url=local_llm_url,
        llm_max_output_tokens=384,  # the model rambles: keep each answer short enough for the test's time
        llm_context_tokens=4000,
        llm_call_timeout_seconds=120,
    )
    (tmp_path / "work").mkdir()
    generation = run_generation(
        SourceSpec(SourceKind.LOCAL, str(root), "shop"),
        ref=None,
        options=GenerationOptions(provider="openai", model=MODEL_ALIAS, language=language, max_chapters=2, parallel=2),
        settings=settings,
        work_dir=tmp_path / "work",
    )
    course = generation.course
    quality = course.quality
    assert len(course.chapters()) == 2
    for figure in ("path_precision", "anchor_validity", "excerpt_fidelity", "mermaid_validity", "link_integrity"):
        assert quality[figure] == 1.0, (figure, quality["findings"])
    usage = quality["usage"]
    assert usage["calls"] >= 3 + 2 * 2 and usage["output_tokens"] > 0  # the model was really asked
    heading = "# Chapitre 1 : " if language == "fr" else "# Chapter 1: "
    assert course.chapters()[0].markdown.startswith(heading)
    # every fallback is recorded with its step, never silent
    assert all(item["step"] and item["reason"] for item in quality["fallbacks"])

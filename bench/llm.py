"""LLM generation cost and schedule, Fondation's and a naive baseline's, with a recording provider.

    .venv/bin/python -m bench.llm [--packages debug,click,...] [--latency 1.0] [--parallel 4] [--out FILE]

The provider answers every call after `latency` seconds with the scripted model's answer (what a
good model would say, see `bench.scripted_model`), counting tokens at four characters a token. Each
code base's course is written twice over the same provider and model: by Fondation's `LlmWriter`
(its calls packed `parallel` at a time), then by `bench.naive_baseline.NaiveWriter`, the way common
open-source tools feed a model (every source file in the first prompt, every earlier chapter in each
chapter prompt; chapters one after the other). What is measured: how many calls a course takes, how
many tokens each step sends and receives, the wall time against the shortest schedule the calls
allow, and Fondation's input tokens as a fraction of the baseline's.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import Machine, Section, at_most, run_alone, table
from bench.corpus import fetch
from bench.generator import MEDIAN_FROM_LINES, analysed_lines
from bench.generator import PACKAGES as GENERATOR_PACKAGES
from bench.naive_baseline import CONTEXT_WINDOWS, NaiveWriter, file_text, source_paths
from bench.scripted_model import ScriptedModel
from fondation.pipeline.generate import generate_course
from fondation.pipeline.llm.ledger import CHARS_PER_TOKEN, Ledger
from fondation.pipeline.llm.writer import LlmWriter
from fondation.pipeline.model import GenerationOptions
from fondation.pipeline.steps import StepCache
from fondation.providers.base import Completion, Prices, Readiness, Request, Usage

#: Every code base of the generator benchmark, a few hundred lines to over half a million.
PACKAGES = GENERATOR_PACKAGES
SEQUENTIAL_STEPS = ("abstractions", "relationships", "order")
PARALLEL_STEPS = ("chapter", "review", "tutorial")
CALLS_GOAL_EXTRA = 3
SCHEDULE_GOAL = 1.2
PARALLEL = 4
CLICK_INPUT_GOAL = 120_000
#: Fondation's input tokens per course over the naive baseline's, on every code base of 10k lines or more.
BASELINE_FRACTION_GOAL = 1 / 3
FONDATION = "Fondation"
NAIVE = "naive baseline"


@dataclass
class RecordingProvider:
    """A provider that answers like the scripted model after a fixed latency, recording every call."""

    model_answers: ScriptedModel
    latency: float
    name: str = "recording"
    model: str = "scripted"
    calls: Counter[str] = field(default_factory=Counter)
    input_tokens: Counter[str] = field(default_factory=Counter)
    largest_prompt: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def complete(self, request: Request) -> Completion:
        started = time.perf_counter()
        answer = self.model_answers.answer(request.prompt)
        # A fixed latency per call: the scripted model's own work (seconds on the largest code bases) is
        # within it, not added to it, so that the wall time measures Fondation's side.
        time.sleep(max(0.0, self.latency - (time.perf_counter() - started)))
        tokens_in = (len(request.system) + len(request.prompt)) // CHARS_PER_TOKEN
        with self._lock:
            self.calls[request.step] += 1
            self.input_tokens[request.step] += tokens_in
            self.largest_prompt = max(self.largest_prompt, tokens_in)
        return Completion(answer, Usage(tokens_in, len(answer) // CHARS_PER_TOKEN), self.model)

    def check_ready(self) -> Readiness:
        return Readiness(True, "recording provider")


@dataclass(frozen=True)
class Measure:
    """One course written by one writer."""

    name: str
    chapters: int
    calls: dict[str, int]
    input_tokens: dict[str, int]
    output_tokens: int
    wall_seconds: float
    shortest_seconds: float
    writer: str = FONDATION
    largest_prompt: int = 0
    #: Steps whose model answer was not used (the offline answer stood in): 0, or the comparison is off.
    fallbacks: int = 0

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_input(self) -> int:
        return sum(self.input_tokens.values())

    @property
    def input_steps_1_to_4(self) -> int:
        return sum(self.input_tokens.get(step, 0) for step in (*SEQUENTIAL_STEPS, "chapter"))


@dataclass(frozen=True)
class Comparison:
    """One code base: Fondation's course and the naive baseline's, over the same provider and model."""

    name: str
    lines: int
    #: What the baseline's crawler picks: files and their lines.
    sent_files: int
    sent_lines: int
    ours: Measure
    naive: Measure

    @property
    def fraction(self) -> float:
        """Fondation's input tokens per course over the baseline's."""
        return self.ours.total_input / max(self.naive.total_input, 1)

    @property
    def like_for_like(self) -> float:
        """The same, Fondation's steps 1–4 only (the baseline asks for no review and writes no tutorial)."""
        return self.ours.input_steps_1_to_4 / max(self.naive.total_input, 1)

    @property
    def first_prompt(self) -> int:
        """The baseline's first prompt, in tokens (it carries every source file)."""
        return self.naive.input_tokens.get("abstractions", 0) // max(self.naive.calls.get("abstractions", 1), 1)


def shortest_schedule(calls: dict[str, int], parallel: int, latency: float) -> float:
    """The least time the calls can take: the three structured steps one after the other, then the rest
    packed `parallel` at a time — or the dependency chain (a chapter, then its review), if longer."""
    rest = sum(calls.get(step, 0) for step in PARALLEL_STEPS)
    chain = 1 + (1 if calls.get("review") else 0)
    return (len(SEQUENTIAL_STEPS) + max(math.ceil(rest / parallel), chain)) * latency


def run_writer(name: str, model: ScriptedModel, writer: str, latency: float, parallel: int) -> Measure:
    """One course of `model`'s repository by Fondation's writer or the naive one, timed and counted."""
    provider = RecordingProvider(model, latency)
    naive = writer == NAIVE
    options = GenerationOptions(provider="openai", parallel=1 if naive else parallel)
    ledger = Ledger(provider.name, provider.model, Prices())
    writer_class = NaiveWriter if naive else LlmWriter
    course_writer = writer_class(model.workspace, options, provider, ledger)
    cache = StepCache()
    started = time.perf_counter()
    course = generate_course(model.workspace, options, writer=course_writer, cache=cache, parallel=options.parallel)
    wall = time.perf_counter() - started
    calls = dict(provider.calls)
    # The baseline's calls each wait for the one before (a chapter needs every earlier chapter's text).
    shortest = sum(calls.values()) * latency if naive else shortest_schedule(calls, parallel, latency)
    return Measure(
        name=name,
        chapters=len(course.chapters()),
        calls=calls,
        input_tokens=dict(provider.input_tokens),
        output_tokens=ledger.total.output_tokens,
        wall_seconds=wall,
        shortest_seconds=shortest,
        writer=writer,
        largest_prompt=provider.largest_prompt,
        fallbacks=len(cache.fallbacks),
    )


def measure(name: str, latency: float, parallel: int) -> Comparison:
    root = fetch(name)
    model = ScriptedModel(root)
    sent = source_paths(root)
    return Comparison(
        name=name,
        lines=analysed_lines(model.workspace.code_map),
        sent_files=len(sent),
        sent_lines=sum(file_text(model.workspace, path).count("\n") for path in sent),
        ours=run_writer(name, model, FONDATION, latency, parallel),
        naive=run_writer(name, model, NAIVE, latency, parallel),
    )


def _fits(tokens: int) -> str:
    """The smallest of the usual context windows that holds a prompt of `tokens`."""
    return next((label for label, size in CONTEXT_WINDOWS if tokens <= size), f"none (> {CONTEXT_WINDOWS[-1][0]})")


def section(results: list[Comparison], latency: float, parallel: int) -> Section:
    ours = [comparison.ours for comparison in results]
    worst_calls = max(ours, key=lambda m: m.total_calls / (CALLS_GOAL_EXTRA + 3 * m.chapters))
    targets = [
        at_most(
            "calls ≤ 3 + 3·N for N chapters, every code base",
            f"{worst_calls.total_calls} for N = {worst_calls.chapters} (highest: {worst_calls.name})",
            worst_calls.total_calls,
            CALLS_GOAL_EXTRA + 3 * worst_calls.chapters,
        )
    ]
    if latency > 0:  # with no latency there is no schedule to come close to
        worst_schedule = max(ours, key=lambda m: m.wall_seconds / m.shortest_seconds)
        targets.append(
            at_most(
                f"wall time within 20% of the shortest schedule at --parallel {parallel}, every code base",
                f"{worst_schedule.wall_seconds:.1f} s vs {worst_schedule.shortest_seconds:.1f} s "
                f"(furthest: {worst_schedule.name})",
                worst_schedule.wall_seconds / worst_schedule.shortest_seconds,
                SCHEDULE_GOAL,
            )
        )
    click = next((measured for measured in ours if measured.name == "click"), None)
    if click is not None:
        targets.append(
            at_most(
                "click: input tokens of steps 1–4 ≤ 120k for 10 chapters",
                f"{click.input_steps_1_to_4:,}",
                click.input_steps_1_to_4,
                CLICK_INPUT_GOAL,
            )
        )
    large = [comparison for comparison in results if comparison.lines >= MEDIAN_FROM_LINES]
    if large:
        worst = max(large, key=lambda comparison: comparison.fraction)
        missed = [comparison.name for comparison in large if comparison.fraction > BASELINE_FRACTION_GOAL]
        targets.append(
            at_most(
                "input tokens per course ≤ 1/3 of the naive baseline's, every code base of ≥ 10k lines",
                f"{worst.fraction:.2f} at most ({worst.name}: {worst.ours.total_input:,} vs "
                f"{worst.naive.total_input:,}); " + (f"over 1/3: {', '.join(missed)}" if missed else "none over 1/3"),
                worst.fraction,
                BASELINE_FRACTION_GOAL,
            )
        )
    steps = (*SEQUENTIAL_STEPS, *PARALLEL_STEPS)
    rows = [
        [
            measured.name,
            measured.writer,
            str(measured.chapters),
            str(measured.total_calls),
            *(
                f"{measured.calls.get(step, 0)} / {measured.input_tokens.get(step, 0):,}"
                if measured.calls.get(step)
                else "-"
                for step in steps
            ),
            f"{measured.total_input:,}",
            f"{measured.output_tokens:,}",
            f"{measured.largest_prompt:,}",
            f"{measured.wall_seconds:.1f}",
            f"{measured.shortest_seconds:.1f}",
            str(measured.fallbacks),
        ]
        for comparison in results
        for measured in (comparison.ours, comparison.naive)
    ]
    comparison_rows = [
        [
            comparison.name,
            f"{comparison.lines:,}",
            f"{comparison.sent_files:,} / {comparison.sent_lines:,}",
            f"{comparison.ours.total_calls} / {comparison.naive.total_calls}",
            f"{comparison.ours.total_input:,}",
            f"{comparison.naive.total_input:,}",
            f"**{comparison.fraction:.2f}**",
            f"{comparison.like_for_like:.2f}",
            f"{comparison.ours.output_tokens:,} / {comparison.naive.output_tokens:,}",
            f"{comparison.ours.wall_seconds:.1f} / {comparison.naive.wall_seconds:.1f}",
            f"{comparison.first_prompt:,}",
            _fits(comparison.first_prompt),
            "-"
            if comparison.lines < MEDIAN_FROM_LINES
            else ("PASS" if comparison.fraction <= BASELINE_FRACTION_GOAL else "MISS"),
        ]
        for comparison in results
    ]
    details = [
        "## LLM generation (recording provider)",
        "",
        *table(
            [
                "code base",
                "writer",
                "chapters",
                "calls",
                *(f"{step}: calls / input tokens" for step in steps),
                "input tokens",
                "output tokens",
                "largest prompt",
                "wall s",
                "shortest s",
                "fallbacks",
            ],
            rows,
        ),
        "Fallbacks: steps whose model answer was not used (the offline answer stood in); 0 everywhere means both "
        "writers' courses are the model's. The naive baseline asks for no review and writes no tutorial (its "
        "tutorial pages are the offline ones, free).",
        "",
        "## LLM cost against the naive baseline",
        "",
        *table(
            [
                "code base",
                "analysed lines",
                "baseline sends: files / lines",
                "calls: Fondation / baseline",
                "input tokens: Fondation",
                "input tokens: baseline",
                "Fondation / baseline",
                "steps 1–4 only / baseline",
                "output tokens: Fondation / baseline",
                "wall s: Fondation / baseline",
                "baseline's first prompt (tokens)",
                "fits a context of",
                "≤ 1/3 (≥ 10k lines)",
            ],
            comparison_rows,
        ),
        "Fondation / baseline: input tokens per course, Fondation's whole course (reviews and tutorials included) "
        "over the baseline's (which has neither). Steps 1–4 only: Fondation's abstractions, relationships, order "
        "and chapters over the same baseline, the like-for-like figure. The token counts do not depend on the "
        "machine or its load; the wall times are mostly the provider's fixed latency.",
        "",
    ]
    method = [
        f"A recording provider answers each call after {latency:g} s with the scripted model's answer (the answer a "
        "good model gives, built from the same prompt) and counts tokens at four characters a token. Reviews are "
        "only asked for chapters the grounding gate finds fault with, so a clean draft costs no review call. The "
        "shortest schedule is the three structured steps one after the other, then the chapter, review and "
        f"tutorial calls packed {parallel} at a time (or the chapter-then-review chain, if longer).",
        "**Naive baseline** (`bench/naive_baseline.py`): the way common open-source course writers feed a model, "
        "PocketFlow's Tutorial-Codebase-Knowledge the best known. Its first prompt carries every file its default "
        "patterns pick (source, markdown and YAML; tests, docs, examples and build folders left out; files over "
        "100 kB skipped), whole and concatenated; the relationships prompt carries every file an abstraction names, "
        "whole; each chapter prompt carries every earlier chapter in full and the chapter's files, whole; chapters "
        "are written one after the other; no review, no tutorial. It runs through the same `generate_course`, "
        "provider, scripted model and ledger as Fondation's `LlmWriter`, with Fondation's instructions for each "
        "step (only the repository context differs). Every prompt is counted whole, even where a real model would "
        "refuse or truncate it: the table says which context window the first prompt fits (128k tokens: GPT-4o; "
        "200k: Claude; 1M: Gemini 1.5 and 2.x). The baseline as measured is cheaper than the real tools (shorter "
        "instructions; the scripted model's chapters are a few hundred tokens where a real model writes thousands, "
        "and each later chapter prompt carries them all), and Fondation's whole course is set against the "
        "baseline's chapters alone: the fraction shown is an upper bound.",
    ]
    return Section(
        title="LLM generation",
        method=method,
        targets=targets,
        details=details,
        settings=f"latency {latency:g} s, --parallel {parallel}, {len(results)} code bases",
    )


def run_benchmark(packages: tuple[str, ...], latency: float, parallel: int) -> list[Comparison]:
    results = []
    for name in packages:
        compared = measure(name, latency, parallel)
        for measured in (compared.ours, compared.naive):
            print(
                f"{name} ({measured.writer}): {measured.chapters} chapters, {measured.total_calls} calls, "
                f"{measured.total_input:,} input tokens, {measured.wall_seconds:.1f} s "
                f"(shortest {measured.shortest_seconds:.1f} s)",
                flush=True,
            )
        print(f"{name}: Fondation / baseline input tokens {compared.fraction:.2f}", flush=True)
        results.append(compared)
    return sorted(results, key=lambda comparison: comparison.lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--packages", default=",".join(PACKAGES))
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--parallel", type=int, default=PARALLEL)
    parser.add_argument("--out", type=Path, help="write this section alone, as a markdown document, to FILE")
    args = parser.parse_args(argv)
    packages = tuple(filter(None, args.packages.split(",")))

    def measure_all(scratch: Path) -> tuple[Machine, Section]:
        machine = Machine(scratch, None, kinds=(), sqlite_levels=())
        results = run_benchmark(packages, args.latency, args.parallel)
        machine.finish()
        return machine, section(results, args.latency, args.parallel)

    return run_alone(
        measure_all, out=args.out, title="LLM generation benchmarks", command=".venv/bin/python -m bench.llm"
    )


if __name__ == "__main__":
    sys.exit(main())

"""LLM generation cost and schedule, with a recording provider of fixed latency and counted tokens.

    .venv/bin/python -m bench.llm [--packages click,requests,rich] [--latency 1.0] [--parallel 4]

The provider answers every call after `latency` seconds with the scripted model's answer (what a
good model would say, see `bench.scripted_model`), counting tokens at four characters a token. What
is measured is Fondation's side: how many calls a course takes, how many tokens it sends per step,
and how close the wall time comes to the shortest schedule the calls allow at the given parallelism.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.common import Section, at_most, table
from bench.corpus import fetch
from bench.scripted_model import ScriptedModel
from fondation.pipeline.generate import generate_course
from fondation.pipeline.llm.ledger import CHARS_PER_TOKEN, Ledger
from fondation.pipeline.llm.writer import LlmWriter
from fondation.pipeline.model import GenerationOptions
from fondation.providers.base import Completion, Prices, Readiness, Request, Usage

PACKAGES = ("requests", "click", "rich")
SEQUENTIAL_STEPS = ("abstractions", "relationships", "order")
PARALLEL_STEPS = ("chapter", "review", "tutorial")
CALLS_GOAL_EXTRA = 3
SCHEDULE_GOAL = 1.2
PARALLEL = 4
CLICK_INPUT_GOAL = 120_000


@dataclass
class RecordingProvider:
    """A provider that answers like the scripted model after a fixed latency, recording every call."""

    model_answers: ScriptedModel
    latency: float
    name: str = "recording"
    model: str = "scripted"
    calls: Counter[str] = field(default_factory=Counter)
    input_tokens: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def complete(self, request: Request) -> Completion:
        time.sleep(self.latency)
        answer = self.model_answers.answer(request.prompt)
        tokens_in = (len(request.system) + len(request.prompt)) // CHARS_PER_TOKEN
        with self._lock:
            self.calls[request.step] += 1
            self.input_tokens[request.step] += tokens_in
        return Completion(answer, Usage(tokens_in, len(answer) // CHARS_PER_TOKEN), self.model)

    def check_ready(self) -> Readiness:
        return Readiness(True, "recording provider")


@dataclass(frozen=True)
class Measure:
    name: str
    chapters: int
    calls: dict[str, int]
    input_tokens: dict[str, int]
    output_tokens: int
    wall_seconds: float
    shortest_seconds: float

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def input_steps_1_to_4(self) -> int:
        return sum(self.input_tokens.get(step, 0) for step in (*SEQUENTIAL_STEPS, "chapter"))


def shortest_schedule(calls: dict[str, int], parallel: int, latency: float) -> float:
    """The least time the calls can take: the three structured steps one after the other, then the rest
    packed `parallel` at a time — or the dependency chain (a chapter, then its review), if longer."""
    rest = sum(calls.get(step, 0) for step in PARALLEL_STEPS)
    chain = 1 + (1 if calls.get("review") else 0)
    return (len(SEQUENTIAL_STEPS) + max(math.ceil(rest / parallel), chain)) * latency


def measure(name: str, latency: float, parallel: int) -> Measure:
    root = fetch(name)
    model = ScriptedModel(root)
    provider = RecordingProvider(model, latency)
    options = GenerationOptions(provider="openai", parallel=parallel)
    ledger = Ledger(provider.name, provider.model, Prices())
    writer = LlmWriter(model.workspace, options, provider, ledger)
    started = time.perf_counter()
    course = generate_course(model.workspace, options, writer=writer, parallel=parallel)
    wall = time.perf_counter() - started
    calls = dict(provider.calls)
    return Measure(
        name=name,
        chapters=len(course.chapters()),
        calls=calls,
        input_tokens=dict(provider.input_tokens),
        output_tokens=ledger.total.output_tokens,
        wall_seconds=wall,
        shortest_seconds=shortest_schedule(calls, parallel, latency),
    )


def section(results: list[Measure], latency: float, parallel: int) -> Section:
    targets = []
    for measured in results:
        goal = CALLS_GOAL_EXTRA + 3 * measured.chapters
        targets.append(
            at_most(
                f"{measured.name}: calls ≤ 3 + 3·N (N = {measured.chapters})",
                str(measured.total_calls),
                measured.total_calls,
                goal,
            )
        )
        ratio = measured.wall_seconds / measured.shortest_seconds
        targets.append(
            at_most(
                f"{measured.name}: wall time within 20% of the shortest schedule at --parallel {parallel}",
                f"{measured.wall_seconds:.1f} s vs {measured.shortest_seconds:.1f} s",
                ratio,
                SCHEDULE_GOAL,
            )
        )
    click = next((measured for measured in results if measured.name == "click"), None)
    if click is not None:
        targets.append(
            at_most(
                "click: input tokens of steps 1–4 ≤ 120k for 10 chapters",
                f"{click.input_steps_1_to_4:,}",
                click.input_steps_1_to_4,
                CLICK_INPUT_GOAL,
            )
        )
    steps = (*SEQUENTIAL_STEPS, *PARALLEL_STEPS)
    rows = [
        [
            measured.name,
            str(measured.chapters),
            str(measured.total_calls),
            *(f"{measured.calls.get(step, 0)} / {measured.input_tokens.get(step, 0):,}" for step in steps),
            f"{sum(measured.input_tokens.values()):,}",
            f"{measured.output_tokens:,}",
            f"{measured.wall_seconds:.1f}",
            f"{measured.shortest_seconds:.1f}",
        ]
        for measured in results
    ]
    details = [
        "## LLM generation (recording provider)",
        "",
        *table(
            [
                "code base",
                "chapters",
                "calls",
                *(f"{step}: calls / input tokens" for step in steps),
                "input tokens",
                "output tokens",
                "wall s",
                "shortest s",
            ],
            rows,
        ),
    ]
    method = [
        f"A recording provider answers each call after {latency:g} s with the scripted model's answer (the answer a "
        "good model gives, built from the same prompt) and counts tokens at four characters a token. Reviews are "
        "only asked for chapters the grounding gate finds fault with, so a clean draft costs no review call. The "
        "shortest schedule is the three structured steps one after the other, then the chapter, review and "
        f"tutorial calls packed {parallel} at a time (or the chapter-then-review chain, if longer).",
    ]
    return Section(
        title="LLM generation",
        method=method,
        targets=targets,
        details=details,
        settings=f"latency {latency:g} s, --parallel {parallel}",
    )


def run_benchmark(packages: tuple[str, ...], latency: float, parallel: int) -> list[Measure]:
    results = []
    for name in packages:
        measured = measure(name, latency, parallel)
        print(
            f"{name}: {measured.chapters} chapters, {measured.total_calls} calls, "
            f"{sum(measured.input_tokens.values()):,} input tokens, {measured.wall_seconds:.1f} s "
            f"(shortest {measured.shortest_seconds:.1f} s)",
            flush=True,
        )
        results.append(measured)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--packages", default=",".join(PACKAGES))
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--parallel", type=int, default=PARALLEL)
    args = parser.parse_args(argv)
    results = run_benchmark(tuple(filter(None, args.packages.split(","))), args.latency, args.parallel)
    for row in section(results, args.latency, args.parallel).targets:
        print(f"{'PASS' if row.ok else 'MISS'}  {row.target}: {row.measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

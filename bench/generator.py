"""The code map and the offline generator on real code bases of growing size: time, peak memory, quality.

    .venv/bin/python -m bench.generator [--packages debug,click,rich,...]

Each code base is a pinned source archive from PyPI or npm (see `bench.corpus`), from a few hundred
lines to over half a million. Each is measured in a fresh process, so that peak RSS is that code
base's alone: the code map is built once (timed), then the whole offline course is generated from it
(timed), and the course's quality figures (the grounding checks, core coverage, order inversions) are
kept. Lines are the lines of the files the code map analysed (source files in a supported language,
tests included), the figure the work grows with.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bench import corpus
from bench.common import Section, at_most, table

#: The small end of the range (818 analysed lines), pinned like `bench.corpus`'s code bases. Registered here
#: because that list is the tests' too; it belongs there (one line) once the tests may fetch it as well.
SMALL_PACKAGES = {"debug": ("npm", "debug@4.3.7")}
for _name, _requirement in SMALL_PACKAGES.items():
    corpus.PACKAGES.setdefault(_name, _requirement)

#: Smallest to largest; the last two are above 100k analysed lines.
PACKAGES = ("debug", "express", "requests", "zod", "click", "attrs", "rich", "pygments", "sqlalchemy")
#: The course's ratios, in the order the quality table shows them.
QUALITY_FIGURES = (
    "path_precision",
    "anchor_validity",
    "symbol_existence",
    "excerpt_fidelity",
    "mermaid_validity",
    "link_integrity",
    "core_coverage",
)
LINES_GOAL = 100_000
MAP_SECONDS_GOAL = 10.0
MAP_RSS_GOAL_MB = 500.0
COURSE_SECONDS_GOAL = 20.0
COURSE_RSS_GOAL_MB = 1024.0
LINEARITY_GOAL = 2.0
#: Code bases below this many lines are dominated by fixed costs (start-up, grammars): left out of the medians.
MEDIAN_FROM_LINES = 10_000


@dataclass(frozen=True)
class Measure:
    name: str
    files: int
    lines: int
    map_seconds: float
    map_rss_mb: float
    course_seconds: float
    course_rss_mb: float
    chapters: int
    worst_quality: float
    #: Peak RSS of the process before it read the code base (the interpreter and Fondation's modules).
    base_rss_mb: float = 0.0
    pages: int = 0
    quality: dict[str, float] = field(default_factory=dict)
    #: Checked and passed references of each grounding check (paths, anchors, symbols, excerpts, mermaid, links).
    checked: dict[str, list[int]] = field(default_factory=dict)
    order_inversions: int = 0
    repairs: int = 0

    @property
    def total_seconds(self) -> float:
        return self.map_seconds + self.course_seconds

    @property
    def growth_mb(self) -> float:
        """What the code base added to the process's peak memory (map and course)."""
        return max(self.course_rss_mb - self.base_rss_mb, 0.0)

    def per_kline(self, value: float) -> float:
        return value / max(self.lines, 1) * 1000


def analysed_lines(code_map: Any) -> int:
    """Lines of the files the code map analysed (symbols or imports found), tests included."""
    return sum(entry.lines for entry in code_map.files if entry.symbols or entry.imports)


def measure_one(name: str) -> Measure:
    """Map and generate one code base in this process (run it in a fresh one for a fair peak RSS)."""
    from bench.corpus import fetch
    from fondation.codemap.build import build_code_map
    from fondation.pipeline.generate import generate_course
    from fondation.pipeline.model import GenerationOptions
    from fondation.pipeline.workspace import Workspace

    root = fetch(name)
    base_rss = _peak_rss_mb()
    started = time.perf_counter()
    code_map = build_code_map(root, name=name)
    mapped = time.perf_counter()
    map_rss = _peak_rss_mb()
    course = generate_course(Workspace(root, code_map), GenerationOptions())
    done = time.perf_counter()
    quality = course.quality
    figures = {key: float(quality[key]) for key in QUALITY_FIGURES if key in quality}
    return Measure(
        name=name,
        files=len(code_map.files),
        lines=analysed_lines(code_map),
        map_seconds=mapped - started,
        map_rss_mb=map_rss,
        course_seconds=done - mapped,
        course_rss_mb=_peak_rss_mb(),
        chapters=len(course.chapters()),
        worst_quality=min(figures.values(), default=1.0),
        base_rss_mb=base_rss,
        pages=len(course.pages),
        quality=figures,
        checked={check: [tally["checked"], tally["passed"]] for check, tally in quality.get("checked", {}).items()},
        order_inversions=int(quality.get("order_inversions", 0)),
        repairs=int(quality.get("repairs", 0)),
    )


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_benchmark(packages: tuple[str, ...]) -> list[Measure]:
    results = []
    for name in packages:
        done = subprocess.run(
            [sys.executable, "-m", "bench.generator", "--one", name],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
        measure = Measure(**json.loads(done.stdout))
        print(
            f"{name}: {measure.lines:,} lines, map {measure.map_seconds:.2f} s / {measure.map_rss_mb:.0f} MB, "
            f"course {measure.total_seconds:.2f} s / {measure.course_rss_mb:.0f} MB",
            flush=True,
        )
        results.append(measure)
    return sorted(results, key=lambda measure: measure.lines)


def section(results: list[Measure]) -> Section:
    big = [measure for measure in results if measure.lines >= LINES_GOAL] or results[-1:]
    largest = max(big, key=lambda measure: measure.lines)
    scale = LINES_GOAL / largest.lines
    # Superlinear growth would make the largest code base cost more per line than a typical one.
    rates = sorted(measure.per_kline(measure.total_seconds) for measure in results)
    median = rates[len(rates) // 2] if rates else 1.0
    linearity = largest.per_kline(largest.total_seconds) / median
    targets = [
        at_most(
            "code map of 100k lines ≤ 10 s",
            f"{largest.map_seconds * scale:.2f} s (from {largest.name}, {largest.lines:,} lines)",
            largest.map_seconds * scale,
            MAP_SECONDS_GOAL,
        ),
        at_most(
            "code map of ≥ 100k lines ≤ 500 MB", f"{largest.map_rss_mb:.0f} MB", largest.map_rss_mb, MAP_RSS_GOAL_MB
        ),
        at_most(
            "offline course of 100k lines ≤ 20 s",
            f"{largest.total_seconds * scale:.2f} s (from {largest.name})",
            largest.total_seconds * scale,
            COURSE_SECONDS_GOAL,
        ),
        at_most(
            "offline course of ≥ 100k lines ≤ 1 GB",
            f"{largest.course_rss_mb:.0f} MB",
            largest.course_rss_mb,
            COURSE_RSS_GOAL_MB,
        ),
        at_most(
            "time per 1k lines, largest code base over the median one ≤ 2",
            f"{linearity:.2f}",
            linearity,
            LINEARITY_GOAL,
        ),
    ]
    rows = [
        [
            measure.name,
            f"{measure.files:,}",
            f"{measure.lines:,}",
            f"{measure.map_seconds:.2f}",
            f"{measure.per_kline(measure.map_seconds) * 1000:.1f}",
            f"{measure.map_rss_mb:.0f}",
            f"{measure.total_seconds:.2f}",
            f"{measure.per_kline(measure.total_seconds) * 1000:.1f}",
            f"{measure.course_rss_mb:.0f}",
            str(measure.chapters),
            f"{measure.worst_quality:.2f}",
        ]
        for measure in results
    ]
    details = [
        "## Code map and offline course",
        "",
        *table(
            [
                "code base",
                "files",
                "analysed lines",
                "map s",
                "map ms / 1k lines",
                "map peak MB",
                "course s (map + steps)",
                "course ms / 1k lines",
                "course peak MB",
                "chapters",
                "lowest quality figure",
            ],
            rows,
        ),
    ]
    method = [
        "Code bases: pinned source archives from PyPI and npm (" + ", ".join(m.name for m in results) + "). Each is "
        "measured in a fresh process: the code map is built (scan, parse, resolve, rank), then the complete offline "
        "course is generated from it (six steps, index, grounding check). Peak RSS is the process's maximum resident "
        "size after each phase. Times at 100k lines are the largest code base's times scaled linearly to 100k lines.",
    ]
    return Section(
        title="Code map and generator",
        method=method,
        targets=targets,
        details=details,
        settings=f"{len(results)} code bases",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--packages", default=",".join(PACKAGES))
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(asdict(measure_one(args.one))))
        return 0
    results = run_benchmark(tuple(name for name in args.packages.split(",") if name))
    for row in section(results).targets:
        print(f"{'PASS' if row.ok else 'MISS'}  {row.target}: {row.measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

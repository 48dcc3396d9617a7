"""The code map and the offline generator on real code bases of growing size: time and peak memory.

    .venv/bin/python -m bench.generator [--packages click,rich,...] [--out FILE]

Each code base is a pinned source archive from PyPI or npm (see `bench.corpus`). Each is measured in
a fresh process, so that peak RSS is that code base's alone: the code map is built once (timed),
then the whole offline course is generated from it (timed). Lines are the lines of the files the
code map analysed (source files in a supported language, tests included), the figure the work
grows with.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from bench.common import Section, at_most, table

#: Smallest to largest; the last ones are above 100k analysed lines.
PACKAGES = ("express", "click", "requests", "attrs", "rich", "zod", "pygments", "sqlalchemy")
LINES_GOAL = 100_000
MAP_SECONDS_GOAL = 10.0
MAP_RSS_GOAL_MB = 500.0
COURSE_SECONDS_GOAL = 20.0
COURSE_RSS_GOAL_MB = 1024.0
LINEARITY_GOAL = 2.0


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

    @property
    def total_seconds(self) -> float:
        return self.map_seconds + self.course_seconds

    def per_kline(self, seconds: float) -> float:
        return seconds / max(self.lines, 1) * 1000


def measure_one(name: str) -> Measure:
    """Map and generate one code base in this process (run it in a fresh one for a fair peak RSS)."""
    from bench.corpus import fetch
    from fondation.codemap.build import build_code_map
    from fondation.pipeline.generate import generate_course
    from fondation.pipeline.model import GenerationOptions
    from fondation.pipeline.workspace import Workspace

    root = fetch(name)
    started = time.perf_counter()
    code_map = build_code_map(root, name=name)
    mapped = time.perf_counter()
    map_rss = _peak_rss_mb()
    course = generate_course(Workspace(root, code_map), GenerationOptions())
    done = time.perf_counter()
    analysed = {entry.path for entry in code_map.files if entry.symbols or entry.imports}
    figures = [value for key, value in course.quality.items() if isinstance(value, float)]
    return Measure(
        name=name,
        files=len(code_map.files),
        lines=sum(entry.lines for entry in code_map.files if entry.path in analysed),
        map_seconds=mapped - started,
        map_rss_mb=map_rss,
        course_seconds=done - mapped,
        course_rss_mb=_peak_rss_mb(),
        chapters=len(course.chapters()),
        worst_quality=min(figures, default=1.0),
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

"""The code map and the offline generator on real code bases of growing size: time, peak memory, quality.

    .venv/bin/python -m bench.generator [--packages debug,click,rich,...] [--out FILE]

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
from pathlib import Path
from typing import Any

from bench.common import Machine, Section, at_most, run_alone, table

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
    """This process's peak resident size: VmHWM, the high-water mark of its own memory since it started.

    Not `getrusage`'s ru_maxrss: Linux carries that over from the parent through fork and exec, so a child
    of a large process (`bench.run`, with everything imported) would report the parent's size as its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
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


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 1.0


def section(results: list[Measure]) -> Section:
    big = [measure for measure in results if measure.lines >= LINES_GOAL] or results[-1:]
    largest = max(big, key=lambda measure: measure.lines)
    # Every code base of 100k lines or more, scaled linearly to 100k: the worst of them is the figure.
    slowest_map = max(big, key=lambda measure: measure.map_seconds / measure.lines)
    slowest = max(big, key=lambda measure: measure.total_seconds / measure.lines)
    heaviest_map = max(big, key=lambda measure: measure.map_rss_mb)
    heaviest = max(big, key=lambda measure: measure.course_rss_mb)
    # Superlinear growth would make the largest code base cost more per line than a typical one. Code bases
    # under 10k lines are left out of the median: their fixed costs (start-up, grammars) hide the growth.
    typical = [measure for measure in results if measure.lines >= MEDIAN_FROM_LINES] or results
    time_linearity = largest.per_kline(largest.total_seconds) / _median(
        [measure.per_kline(measure.total_seconds) for measure in typical]
    )
    memory_linearity = largest.per_kline(largest.growth_mb) / max(
        _median([measure.per_kline(measure.growth_mb) for measure in typical]), 1e-9
    )
    targets = [
        at_most(
            "code map of 100k lines ≤ 10 s",
            f"{slowest_map.map_seconds * LINES_GOAL / slowest_map.lines:.2f} s "
            f"(from {slowest_map.name}, {slowest_map.lines:,} lines)",
            slowest_map.map_seconds * LINES_GOAL / slowest_map.lines,
            MAP_SECONDS_GOAL,
        ),
        at_most(
            "code map of ≥ 100k lines ≤ 500 MB",
            f"{heaviest_map.map_rss_mb:.0f} MB ({heaviest_map.name})",
            heaviest_map.map_rss_mb,
            MAP_RSS_GOAL_MB,
        ),
        at_most(
            "offline course of 100k lines ≤ 20 s",
            f"{slowest.total_seconds * LINES_GOAL / slowest.lines:.2f} s "
            f"(from {slowest.name}, {slowest.lines:,} lines)",
            slowest.total_seconds * LINES_GOAL / slowest.lines,
            COURSE_SECONDS_GOAL,
        ),
        at_most(
            "offline course of ≥ 100k lines ≤ 1 GB",
            f"{heaviest.course_rss_mb:.0f} MB ({heaviest.name})",
            heaviest.course_rss_mb,
            COURSE_RSS_GOAL_MB,
        ),
        at_most(
            "course time per 1k lines, largest code base over the median one ≤ 2",
            f"{time_linearity:.2f} ({largest.name})",
            time_linearity,
            LINEARITY_GOAL,
        ),
        at_most(
            "course memory added per 1k lines, largest code base over the median one ≤ 2",
            f"{memory_linearity:.2f} ({largest.name})",
            memory_linearity,
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
            f"{measure.growth_mb:.0f}",
            f"{measure.per_kline(measure.growth_mb):.2f}",
        ]
        for measure in results
    ]
    quality_rows = [
        [
            measure.name,
            str(measure.chapters),
            str(measure.pages),
            *(_figure(measure, key) for key in QUALITY_FIGURES),
            str(measure.order_inversions),
            str(measure.repairs),
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
                "MB added",
                "MB added / 1k lines",
            ],
            rows,
        ),
        "Peak MB: the process's maximum resident size after each phase; MB added: the course's peak less the "
        "process's peak before it read the code base (the interpreter and Fondation's modules, about "
        f"{_median([m.base_rss_mb for m in results]):.0f} MB). Linearity: the largest code base's time (or memory "
        "added) per 1k lines over the median of the code bases of 10k lines or more.",
        "",
        "## Offline course quality",
        "",
        *table(
            [
                "code base",
                "chapters",
                "pages",
                *(key.replace("_", " ") + (" (checked)" if key != "core_coverage" else "") for key in QUALITY_FIGURES),
                "order inversions",
                "repairs",
            ],
            quality_rows,
        ),
        "Each grounding figure is the share of the course's references of that kind that hold against the "
        "repository (a path that exists, an anchor in range, a symbol the code map has, an excerpt identical to the "
        "file's lines, a mermaid diagram that parses, a link to a page of the course), with the number checked. "
        "Core coverage: the share of the 10 highest-ranked files the course cites. Order inversions: chapters that "
        "come before one they use. Repairs: references the grounding gate had to degrade before publishing.",
        "",
    ]
    method = [
        "Code bases: pinned source archives from PyPI and npm (" + ", ".join(m.name for m in results) + "), from "
        f"{results[0].lines:,} to {results[-1].lines:,} analysed lines. Each is measured in a fresh process: the code "
        "map is built (scan, parse, resolve, rank), then the complete offline course is generated from it (six steps, "
        "index, grounding check). Peak RSS is the process's maximum resident size after each phase. Times at 100k "
        "lines are those of each code base of 100k lines or more, scaled linearly to 100k lines; the worst is "
        "shown. One run per code base: the times are the machine's at that moment (see its load above).",
    ]
    return Section(
        title="Code map and generator",
        method=method,
        targets=targets,
        details=details,
        settings=f"{len(results)} code bases",
    )


def _figure(measure: Measure, key: str) -> str:
    if key not in measure.quality:
        return "-"
    check = {
        "path_precision": "paths",
        "anchor_validity": "anchors",
        "symbol_existence": "symbols",
        "excerpt_fidelity": "excerpts",
        "mermaid_validity": "mermaid",
        "link_integrity": "links",
    }.get(key)
    counted = measure.checked.get(check or "")
    return f"{measure.quality[key]:.2f}" + (f" ({counted[0]})" if counted else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--packages", default=",".join(PACKAGES))
    parser.add_argument("--out", type=Path, help="write this section alone, as a markdown document, to FILE")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(asdict(measure_one(args.one))))
        return 0
    packages = tuple(name for name in args.packages.split(",") if name)

    def measure(scratch: Path) -> tuple[Machine, Section]:
        machine = Machine(scratch, None, kinds=(), sqlite_levels=())
        results = run_benchmark(packages)
        machine.finish()
        return machine, section(results)

    return run_alone(measure, out=args.out, title="Generator benchmarks", command=".venv/bin/python -m bench.generator")


if __name__ == "__main__":
    sys.exit(main())

"""`make bench`: the queue, worker, generator, LLM and web benchmarks, written once into docs/BENCHMARKS.md.

    scripts/with-postgres.sh .venv/bin/python -m bench.run [--queue-jobs N] [--worker-jobs N] [--only NAME] [--out FILE]

Runs `bench.queue`, `bench.worker`, `bench.generator`, `bench.llm` and `bench.web` (see each for what it
measures), the queue, worker and web ones on SQLite and on the PostgreSQL found in FONDATION_TEST_PG_URL,
and writes one document:
header, machine, method, one targets table, then each benchmark's detail tables. The default sizes
keep the whole run within a few minutes on a two-core machine; each benchmark's own command line
takes bigger ones.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import generator as generator_bench
from bench import llm as llm_bench
from bench import queue as queue_bench
from bench import web as web_bench
from bench import worker as worker_bench
from bench.common import (
    Machine,
    Section,
    add_backend_arguments,
    checked_backends,
    publish,
)

QUEUE_JOBS = 2000
WORKER_JOBS = 300
BENCHMARKS = ("queue", "worker", "generator", "llm", "web")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add_backend_arguments(parser)
    parser.add_argument("--queue-jobs", type=int, default=QUEUE_JOBS, help="jobs per queue throughput measurement")
    parser.add_argument("--worker-jobs", type=int, default=WORKER_JOBS, help="jobs per worker layout")
    parser.add_argument("--idle-seconds", type=float, default=worker_bench.WorkerConfig.idle_seconds)
    parser.add_argument("--skip-queue", action="store_true")
    parser.add_argument("--skip-worker", action="store_true")
    parser.add_argument("--skip-generator", action="store_true")
    parser.add_argument("--skip-llm", action="store_true")
    parser.add_argument("--skip-web", action="store_true")
    parser.add_argument("--only", choices=BENCHMARKS, help="run this benchmark alone (for quick iteration)")
    parser.add_argument(
        "--web-requests", type=int, default=web_bench.WebConfig.requests, help="measured requests per web endpoint"
    )
    parser.add_argument("--llm-latency", type=float, default=1.0, help="seconds per call of the recording provider")
    parser.add_argument("--packages", default=",".join(generator_bench.PACKAGES), help="code bases for the generator")
    parser.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    args = parser.parse_args(argv)
    if args.only:
        for name in BENCHMARKS:
            setattr(args, f"skip_{name}", name != args.only)
    args.backends = checked_backends(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    sqlite_dir = Path(tempfile.mkdtemp(prefix="fondation-bench-"))
    sections: list[Section] = []
    try:
        machine = Machine(sqlite_dir, args.pg_url, kinds=args.backends, sqlite_levels=("FULL", "NORMAL"))
        if not args.skip_queue:
            config = queue_bench.QueueConfig(backends=args.backends, jobs=args.queue_jobs)
            queue_results = queue_bench.run_benchmark(config, sqlite_dir=sqlite_dir, pg_url=args.pg_url)
        if not args.skip_worker:
            worker_config = worker_bench.WorkerConfig(
                backends=args.backends, jobs=args.worker_jobs, idle_seconds=args.idle_seconds
            )
            worker_results = worker_bench.run_benchmark(worker_config, sqlite_dir=sqlite_dir, pg_url=args.pg_url)
        if not args.skip_generator:
            packages = tuple(name for name in args.packages.split(",") if name)
            generator_results = generator_bench.run_benchmark(packages)
        if not args.skip_llm:
            llm_results = llm_bench.run_benchmark(llm_bench.PACKAGES, args.llm_latency, llm_bench.PARALLEL)
        if not args.skip_web:
            web_config = web_bench.WebConfig(backends=args.backends, requests=args.web_requests)
            web_results = web_bench.run_benchmark(web_config, sqlite_dir=sqlite_dir, pg_url=args.pg_url)
        machine.finish()
    finally:
        shutil.rmtree(sqlite_dir, ignore_errors=True)
    if not args.skip_queue:
        sections.append(queue_bench.section(queue_results, machine.fsync_seconds))
    if not args.skip_worker:
        sections.append(worker_bench.section(worker_results))
    if not args.skip_generator:
        sections.append(generator_bench.section(generator_results))
    if not args.skip_llm:
        sections.append(llm_bench.section(llm_results, args.llm_latency, llm_bench.PARALLEL))
    if not args.skip_web:
        sections.append(web_bench.section(web_results))
    elapsed = time.perf_counter() - clock
    publish(
        args.out,
        title="Benchmarks",
        command=".venv/bin/python -m bench.run",
        started=started,
        elapsed=elapsed,
        machine=machine,
        sections=sections,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

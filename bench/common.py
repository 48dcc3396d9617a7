"""What the benchmarks share: fresh databases, the machine's description, and the report's markdown.

`bench.queue` and `bench.worker` each measure and return a `Section` (its method, its rows of the
targets table, its detail tables); `render_document` lays one or more sections out under one header,
one machine description and one targets table. `bench.run` (what `make bench` runs) writes both into
docs/BENCHMARKS.md; each benchmark's own command line writes its section alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from fondation.config import Settings
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.queue.jobs import JobQueue
from fondation.store.database import Database, open_database

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SYNCHRONOUS = str(Settings.model_fields["sqlite_synchronous"].default).upper()


def default_setting(name: str) -> Any:
    """The shipped default of a `Settings` field (what a worker uses when its variable is unset)."""
    return Settings.model_fields[name].default


# --------------------------------------------------------------------------- databases


@dataclass(frozen=True)
class Backend:
    """One database configuration under test."""

    key: str  # "sqlite-full", "sqlite-normal", "postgresql"
    label: str
    kind: str  # "sqlite" or "postgresql"
    synchronous: str = DEFAULT_SYNCHRONOUS  # SQLite only


SQLITE_FULL = Backend("sqlite-full", "SQLite WAL, synchronous=FULL (default)", "sqlite", "FULL")
SQLITE_NORMAL = Backend("sqlite-normal", "SQLite WAL, synchronous=NORMAL", "sqlite", "NORMAL")
POSTGRESQL = Backend("postgresql", "PostgreSQL", "postgresql")
BACKEND_KINDS = ("sqlite", "postgresql")


def parse_backend_kinds(text: str) -> tuple[str, ...]:
    """`sqlite,postgresql` → ("sqlite", "postgresql"); ValueError on an unknown name."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = set(kinds) - set(BACKEND_KINDS)
    if unknown:
        raise ValueError(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return kinds


class Databases:
    """Hands out fresh, empty databases of one backend, and removes them afterwards."""

    def __init__(self, backend: Backend, *, sqlite_dir: Path | None, pg_url: str | None) -> None:
        self.backend = backend
        self.sqlite_dir = sqlite_dir
        self.pg_url = pg_url
        self._count = 0

    @contextmanager
    def fresh(self) -> Iterator[str]:
        """The URL of a new database: a new SQLite file, or a new PostgreSQL database (dropped afterwards)."""
        self._count += 1
        if self.backend.kind == "sqlite":
            assert self.sqlite_dir is not None
            path = self.sqlite_dir / f"{self.backend.key}-{self._count}-{uuid.uuid4().hex[:8]}.db"
            try:
                yield f"sqlite:///{path}"
            finally:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        assert self.pg_url is not None
        name = f"fondation_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(libpq_url(self.pg_url), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(self.pg_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(libpq_url(self.pg_url), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def libpq_url(url: str) -> str:
    """The URL psycopg itself accepts (no SQLAlchemy `+driver`)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def open_queue(url: str, backend: Backend, *, migrate: bool = False) -> tuple[Database, JobQueue]:
    """A connected `Database` and its `JobQueue`; `migrate` creates the schema (a fresh database needs it once)."""
    kwargs: dict[str, Any] = {"sqlite_synchronous": backend.synchronous} if backend.kind == "sqlite" else {}
    database = open_database(url, **kwargs) if migrate else Database(url, **kwargs)
    database.scalar("SELECT 1")  # connect (and apply the PRAGMAs) before any timing starts
    return database, JobQueue(database)


def source(run: str, i: int) -> SourceSpec:
    """A distinct source per job, so that de-duplication never merges two of them."""
    return SourceSpec(kind=SourceKind.GIT, canonical=f"https://bench.invalid/{run}/repo-{i}.git", name=f"repo-{i}")


def enqueue_many(queue: JobQueue, n: int, producers: int = 1) -> float:
    """Enqueue n jobs, one transaction each, from `producers` threads; returns the seconds it took."""
    run = uuid.uuid4().hex[:8]
    failures: list[BaseException] = []

    def produce(first: int) -> None:
        try:
            for i in range(first, n, producers):
                if not queue.enqueue(source(run, i), actor="bench").created:
                    raise AssertionError(f"job {i} was merged into another")
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(producers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - start


# --------------------------------------------------------------------------- the machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory() -> str:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def os_name() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return f"{line.split('=', 1)[1].strip(chr(34))}, kernel {platform.release()}"
    return platform.platform()


def filesystem(path: Path) -> str:
    best = ("", "?", "?")
    resolved = str(path.resolve())
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if (
            len(parts) >= 3
            and (resolved == parts[1] or resolved.startswith(parts[1].rstrip("/") + "/"))
            and len(parts[1]) >= len(best[0])
        ):
            best = (parts[1], parts[2], parts[0])
    return f"{best[1]} ({best[2]})"


def fsync_probe(directory: Path, seconds: float = 0.5) -> tuple[float, str]:
    """Median latency of an 8 kB write + fdatasync in `directory`: the floor under every durable commit."""
    path = directory / f"fsync-probe-{uuid.uuid4().hex[:8]}"
    block = os.urandom(8192)
    samples: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            os.pwrite(fd, block, 0)
            os.fdatasync(fd)
            samples.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    ordered = sorted(samples)
    p50, p90 = statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]
    return p50, f"p50 {p50 * 1e6:,.0f} µs, p90 {p90 * 1e6:,.0f} µs"


def load_now() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def load_average() -> str:
    try:
        one, five, _fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def postgres_info(url: str) -> dict[str, str]:
    names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "data_directory")
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        return {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names}  # type: ignore[index]


def sqlite_settings(directory: Path, synchronous: str) -> str:
    levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    database = Database(f"sqlite:///{directory / 'probe.db'}", sqlite_synchronous=synchronous)
    try:
        mode = database.scalar("PRAGMA journal_mode")
        level = levels.get(database.scalar("PRAGMA synchronous"), "?")
    finally:
        database.dispose()
        for suffix in ("", "-wal", "-shm"):
            (directory / f"probe.db{suffix}").unlink(missing_ok=True)
    return f"journal_mode={mode}, synchronous={level}"


class Machine:
    """The machine's description: fixed facts and the state at the start, then the state at the end."""

    def __init__(
        self, sqlite_dir: Path, pg_url: str | None, *, kinds: Iterable[str], sqlite_levels: Sequence[str]
    ) -> None:
        kinds = set(kinds)
        self.sqlite_dir = sqlite_dir
        self.rows: list[tuple[str, str]] = [
            ("CPU", cpu_model()),
            ("cores (logical)", str(os.cpu_count())),
            ("memory", memory()),
            ("OS", os_name()),
            ("Python", platform.python_version()),
            ("psycopg", psycopg.__version__),
        ]
        if "sqlite" in kinds:
            self.rows.append(("SQLite", sqlite3.sqlite_version))
            self.rows.append(("SQLite file system", filesystem(sqlite_dir)))
            for level in sqlite_levels:
                self.rows.append((f"SQLite settings as opened ({level})", sqlite_settings(sqlite_dir, level)))
        self._load_start = load_now()
        self.rows.append(("load average at start", load_average()))
        self._fsync_start, shown = fsync_probe(sqlite_dir)
        self._fsync_end = self._fsync_start
        self.rows.append(("8 kB write + fdatasync at start (benchmark temp directory)", shown))
        if "postgresql" in kinds and pg_url:
            info = postgres_info(pg_url)
            data_dir = Path(info["data_directory"])
            self.rows.append(("PostgreSQL", info["server_version"]))
            self.rows.append(
                ("PostgreSQL data directory", filesystem(data_dir) if data_dir.is_dir() else "not on this machine")
            )
            self.rows.append(
                (
                    "PostgreSQL durability",
                    f"fsync={info['fsync']}, synchronous_commit={info['synchronous_commit']}, "
                    f"wal_sync_method={info['wal_sync_method']}, full_page_writes={info['full_page_writes']}",
                )
            )
            self.rows.append(("PostgreSQL server", "same machine, 127.0.0.1 (TCP)"))
        self._finished = False

    def finish(self) -> None:
        """Record the load and the disk's sync latency at the end of the run."""
        if self._finished:
            return
        self._finished = True
        self.rows.append(("load average at end", load_average()))
        self._fsync_end, shown = fsync_probe(self.sqlite_dir)
        self.rows.append(("8 kB write + fdatasync at end (benchmark temp directory)", shown))

    @property
    def fsync_seconds(self) -> float:
        """The disk's write + fdatasync p50, averaged over the start and the end of the run."""
        return (self._fsync_start + self._fsync_end) / 2

    @property
    def peak_load(self) -> float:
        return max(self._load_start, load_now())


# --------------------------------------------------------------------------- the report


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


@dataclass(frozen=True)
class TargetRow:
    """One row of the targets table. `ratio` is measured / target: above 1 is better for an at-least target."""

    target: str
    measured: str
    ratio: float
    ok: bool

    def cells(self) -> list[str]:
        return [self.target, self.measured, f"{self.ratio:.2f}", verdict(self.ok)]


def at_least(target: str, measured: str, value: float, goal: float) -> TargetRow:
    """A row for a target the value must reach (a rate)."""
    return TargetRow(target, measured, value / goal, value >= goal)


def at_most(target: str, measured: str, value: float, goal: float) -> TargetRow:
    """A row for a target the value must stay under (a latency, a cost)."""
    return TargetRow(target, measured, value / goal, value <= goal)


@dataclass
class Section:
    """One benchmark's part of the document."""

    title: str  # "Job queue", "Worker"
    method: list[str]  # markdown paragraphs
    targets: list[TargetRow]
    details: list[str]  # markdown lines, with their own `##` headings
    notes: list[str] = field(default_factory=list)  # warnings shown under the header (bold)
    settings: str = ""  # for the "Run on ..." line: the sizes this run used


def print_targets(rows: Iterable[TargetRow]) -> None:
    """The targets on the terminal, one line each."""
    print()
    for row in rows:
        print(f"{verdict(row.ok)}  {row.target}: {row.measured} ({row.ratio:.2f}× target)")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """A markdown table, as lines (and a blank line after it)."""
    lines = [f"| {' | '.join(headers)} |", f"| {' | '.join('---' for _ in headers)} |"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return [*lines, ""]


def render_document(
    *, title: str, command: str, started: datetime, elapsed: float, machine: Machine, sections: Sequence[Section]
) -> str:
    """The whole markdown document: header, machine, method, one targets table, then each section's details."""
    out: list[str] = [
        f"# {title}",
        "",
        f"> Generated by `make bench` (`{command}`, PostgreSQL from `scripts/with-postgres.sh`). "
        "Do not edit by hand: run it again. The job queue side by side with procrastinate and pgqueuer is "
        "in [BENCHMARKS-PEERS.md](BENCHMARKS-PEERS.md) (`make bench-peers`).",
        "",
    ]
    settings = "; ".join(f"{s.title.lower()}: {s.settings}" for s in sections if s.settings)
    out += [
        f"Run on {started:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s in all" + (f" ({settings})." if settings else "."),
        "",
    ]
    cores = os.cpu_count() or 1
    if machine.peak_load > cores / 2:
        out += [
            f"**The machine was busy with other work (load average up to {machine.peak_load:.1f} on {cores} cores): "
            "the figures are lower, and the latencies longer, than on an idle machine.**",
            "",
        ]
    for section in sections:
        out += [line for note in section.notes for line in (f"**{note}**", "")]
    out += ["## Machine", "", *table(["", ""], ([k, v] for k, v in machine.rows))]
    out += ["## Method", ""]
    for section in sections:
        if len(sections) > 1:
            out += [f"### {section.title}", ""]
        out += [line for paragraph in section.method for line in (paragraph, "")]
    out += ["## Targets", ""]
    out += table(
        ["target", "measured", "ratio to target", "result"], (row.cells() for s in sections for row in s.targets)
    )
    out.append(
        "Ratio: measured over target; above 1 is better for a rate (≥), below 1 is better for a time or a resource (≤)."
    )
    out.append("")
    for section in sections:
        out += section.details
    return "\n".join(out).rstrip("\n") + "\n"


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark takes: which backends, and where PostgreSQL is."""
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("FONDATION_TEST_PG_URL"))


def checked_backends(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, ...]:
    """The backends asked for, or a usage error (unknown name, PostgreSQL without a URL)."""
    try:
        backends = parse_backend_kinds(args.backends)
    except ValueError as error:
        parser.error(str(error))
    if "postgresql" in backends and not args.pg_url:
        parser.error("postgresql needs FONDATION_TEST_PG_URL or --pg-url (see scripts/with-postgres.sh)")
    return backends


def write_document(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def publish(
    out: Path,
    *,
    title: str,
    command: str,
    started: datetime,
    elapsed: float,
    machine: Machine,
    sections: Sequence[Section],
) -> None:
    """Print the targets, then write the whole document to `out` and say so."""
    print_targets(row for part in sections for row in part.targets)
    document = render_document(
        title=title, command=command, started=started, elapsed=elapsed, machine=machine, sections=sections
    )
    write_document(out, document)
    print(f"\nwrote {out} ({elapsed:.0f} s)")


def run_alone(
    measure: Callable[[Path], tuple[Machine, Section]],
    *,
    out: Path | None,
    title: str,
    command: str,
) -> int:
    """One benchmark run by itself (`python -m bench.NAME`): in a scratch SQLite folder, its targets
    printed, and the document written to `out` when given. `measure` gets the folder and returns the
    machine it described and the section it measured."""
    started = datetime.now(UTC)
    clock = time.perf_counter()
    sqlite_dir = Path(tempfile.mkdtemp(prefix="fondation-bench-"))
    try:
        machine, part = measure(sqlite_dir)
    finally:
        shutil.rmtree(sqlite_dir, ignore_errors=True)
    if out:
        publish(
            out,
            title=title,
            command=command,
            started=started,
            elapsed=time.perf_counter() - clock,
            machine=machine,
            sections=[part],
        )
    else:
        print_targets(part.targets)
    return 0

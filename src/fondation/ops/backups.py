"""Backups of the database, with the configuration (secrets masked) and, on request, the Claude credentials.

One backup is one archive, `fondation-backup-YYYYMMDD-HHMMSS-mmm.tar.gz` (UTC, mode 600):

    manifest.json               first member: Fondation version, backend, schema revision, the row count
                                of every table, SHA-256 and size of every other member
    database/fondation.sqlite   SQLite: a copy made through SQLite's online backup API (consistent while
                                workers write), in rollback-journal mode so that it is one file
    database/fondation.pgdump   PostgreSQL: `pg_dump -Fc`, run in the very snapshot the counts were read in
    config/settings.json        the effective settings with every secret masked: to compare, never restored
    credentials/claude/...      only with --with-credentials: the Claude CLI's credentials folder

Verifying restores: a checksum only proves that the archive is the one that was written; restoring it
into a throwaway place (a temp SQLite file, a scratch PostgreSQL database) proves that it restores and
holds what its manifest says. An archive read back is untrusted input: only regular files under the
names above, no absolute path, no `..`, each member checked against the manifest as it is written out.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit, urlunsplit

from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url

from fondation import __version__
from fondation.config import Settings, mask_url_password
from fondation.domain.errors import DatabaseError, FondationError
from fondation.ops.claude_credentials import revoke_credentials
from fondation.queue import WorkerRegistry
from fondation.store.database import Database, normalise_url
from fondation.store.migrations_runner import HEAD, KNOWN_REVISIONS
from fondation.store.schema import metadata

FORMAT = 1
MANIFEST = "manifest.json"
CONFIG_MEMBER = "config/settings.json"
DATABASE_MEMBERS = {"sqlite": "database/fondation.sqlite", "postgresql": "database/fondation.pgdump"}
CREDENTIALS_PREFIX = "credentials/claude/"
ARCHIVE_NAME = re.compile(r"fondation-backup-\d{8}-\d{6}-\d{3}\.tar\.gz")
_TOP_LEVEL = ("database", "config", "credentials")
_MAX_MANIFEST_BYTES = 1 << 20
_CHUNK = 1 << 20
#: Files SQLite keeps beside a database: they belong to that file and must never meet another one.
_SQLITE_SIDE_FILES = ("-wal", "-journal", "-shm")


class BackupError(FondationError):
    """A backup cannot be made, read, verified or restored; the message says why and what to do."""


class LiveWorkersError(BackupError):
    """A restore was asked for while workers are live (they would write into a database being replaced)."""


@dataclass(frozen=True, slots=True)
class Member:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an archive holds, written first in it so that `backup list` reads nothing else."""

    created_at: str
    fondation_version: str
    backend: str
    database: str
    schema_revision: str
    counts: dict[str, int]
    with_credentials: bool
    members: dict[str, Member]
    format: int = FORMAT

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes, archive: str) -> Manifest:
        """Parse and check a manifest; a `BackupError` naming the archive when it is not one of ours."""
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown manifest format {data.get('format')!r}")
            members = {name: Member(str(m["sha256"]), int(m["size"])) for name, m in dict(data["members"]).items()}
            manifest = cls(
                created_at=str(data["created_at"]),
                fondation_version=str(data["fondation_version"]),
                backend=str(data["backend"]),
                database=str(data["database"]),
                schema_revision=str(data["schema_revision"]),
                counts={str(table): int(count) for table, count in dict(data["counts"]).items()},
                with_credentials=bool(data["with_credentials"]),
                members=members,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BackupError(f"{archive}: its manifest is malformed ({error}): not a Fondation backup") from None
        if manifest.backend not in DATABASE_MEMBERS or DATABASE_MEMBERS[manifest.backend] not in members:
            raise BackupError(f"{archive}: its manifest names no database of a known backend")
        for name, member in members.items():
            _check_member_name(name, archive)
            if not re.fullmatch(r"[0-9a-f]{64}", member.sha256) or member.size < 0:
                raise BackupError(f"{archive}: its manifest has a malformed entry for {name}")
        return manifest


@dataclass(frozen=True, slots=True)
class BackupEntry:
    """One archive of a backup directory, for `backup list`: its manifest, or why it cannot be read."""

    path: Path
    size: int
    manifest: Manifest | None
    problem: str | None


@dataclass(frozen=True, slots=True)
class CreatedBackup:
    path: Path
    size: int
    manifest: Manifest
    removed: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class Verified:
    path: Path
    manifest: Manifest
    checks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Restored:
    path: Path
    manifest: Manifest
    target: str
    previous: Path | None
    credentials: int
    live_workers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a database holds, read in one snapshot: schema revision and the row count of every table."""

    revision: str | None
    compatible_from: str | None
    counts: dict[str, int]


# ------------------------------------------------------------------------------------------------ create


def create_backup(settings: Settings, *, out_dir: Path | None = None, with_credentials: bool = False) -> CreatedBackup:
    """Write one archive into `out_dir` (default FONDATION_BACKUP_DIR), then keep the newest FONDATION_BACKUP_KEEP."""
    directory = out_dir or settings.backup_dir
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    created = datetime.now(UTC)
    # Staged beside the archive, not in /tmp: a database copy may be larger than a tmpfs.
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=directory) as staging:
        root = Path(staging)
        member = DATABASE_MEMBERS[settings.backend]
        (root / member).parent.mkdir(parents=True)
        if settings.backend == "sqlite":
            facts = _sqlite_snapshot(settings, root / member)
        else:
            facts = _pg_snapshot(settings, root / member)
        (root / CONFIG_MEMBER).parent.mkdir(parents=True)
        (root / CONFIG_MEMBER).write_text(json.dumps(settings.public_view(), indent=2, sort_keys=True) + "\n")
        if with_credentials:
            _stage_credentials(settings.claude_config_dir, root / CREDENTIALS_PREFIX)
        if facts.revision is None:
            raise BackupError(f"database {_display_database(settings)} has no schema yet: nothing to back up")
        manifest = Manifest(
            created_at=created.isoformat().replace("+00:00", "Z"),
            fondation_version=__version__,
            backend=settings.backend,
            database=_display_database(settings),
            schema_revision=facts.revision,
            counts=facts.counts,
            with_credentials=with_credentials,
            members={name: _digest(root / name) for name in _staged_files(root)},
        )
        path = _write_archive(directory, created, root, manifest)
    return CreatedBackup(path, path.stat().st_size, manifest, prune(directory, settings.backup_keep))


def prune(directory: Path, keep: int) -> tuple[Path, ...]:
    """Remove all but the `keep` newest archives of `directory` (0 keeps them all); returns what went."""
    if keep == 0:
        return ()
    old = tuple(_archives(directory)[:-keep])
    for path in old:
        path.unlink()
    return old


def _sqlite_snapshot(settings: Settings, copy: Path) -> _Facts:
    source_path = sqlite_path(settings)
    if not source_path.is_file():
        raise BackupError(f"database file {source_path} does not exist: nothing to back up")
    timeout = settings.sqlite_busy_timeout_ms / 1000
    try:
        source = sqlite3.connect(source_path, timeout=timeout)
        target = sqlite3.connect(copy)
        try:
            # One step: the whole copy is read in one read transaction, so it is one consistent state of
            # the database; in WAL mode, workers keep writing meanwhile.
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
            return _read_facts(_sqlite_query(target), "sqlite")
        finally:
            target.close()
            source.close()
    except sqlite3.Error as error:
        raise BackupError(f"cannot back up {source_path}: {error}") from None


def _pg_snapshot(settings: Settings, dump: Path) -> _Facts:
    """Counts and dump from one snapshot: the counts read here are exactly the rows the dump holds."""
    database = Database(settings.database_url)
    try:
        with database.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.execute(text("SET TRANSACTION READ ONLY"))
                # Idle while pg_dump works: the store's 60 s idle-in-transaction limit must not end it.
                conn.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                facts = _read_facts(_pg_query(conn), "postgresql")
                _run_pg_tool(
                    settings, "pg_dump", settings.database_url, "--format=custom", f"--snapshot={snapshot}", "-f", dump
                )
    finally:
        database.dispose()
    return facts


def _stage_credentials(config_dir: Path, into: Path) -> None:
    # Regular files only: a link could point anywhere, and an archive read back holds nothing else.
    files = [p for p in sorted(config_dir.rglob("*")) if p.is_file() and not p.is_symlink()]
    if not files:
        raise BackupError(
            f"FONDATION_CLAUDE_CONFIG_DIR ({config_dir}) holds no credentials: nothing to add with --with-credentials"
        )
    for path in files:
        destination = into / path.relative_to(config_dir)
        destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(path, destination)


def _write_archive(directory: Path, created: datetime, root: Path, manifest: Manifest) -> Path:
    name = f"fondation-backup-{created:%Y%m%d-%H%M%S}-{created.microsecond // 1000:03d}.tar.gz"
    final, partial = directory / name, directory / f".{name}.partial"
    mtime = int(created.timestamp())
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
                body = manifest.to_json()
                _add_member(tar, MANIFEST, len(body), mtime, io.BytesIO(body))
                for member in sorted(manifest.members):
                    with (root / member).open("rb") as file:
                        _add_member(tar, member, manifest.members[member].size, mtime, file)
            raw.flush()
            os.fsync(raw.fileno())
        os.link(partial, final)  # never over an existing archive
    except FileExistsError:
        raise BackupError(f"{final} already exists: run the backup again") from None
    finally:
        partial.unlink(missing_ok=True)
    _fsync_dir(directory)
    return final


def _add_member(tar: tarfile.TarFile, name: str, size: int, mtime: int, file: BinaryIO) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o600
    tar.addfile(info, file)


# -------------------------------------------------------------------------------------------------- list


def list_backups(directory: Path) -> list[BackupEntry]:
    """The archives of `directory`, newest first, each with its manifest or the reason it cannot be read."""
    entries = []
    for path in reversed(_archives(directory)):
        try:
            entries.append(BackupEntry(path, path.stat().st_size, read_manifest(path), None))
        except BackupError as error:
            entries.append(BackupEntry(path, path.stat().st_size, None, str(error)))
    return entries


def latest_backup(directory: Path) -> Path:
    archives = _archives(directory)
    if not archives:
        raise BackupError(f"no backup in {directory}: make one with `fondation backup create`")
    return archives[-1]


def read_manifest(path: Path) -> Manifest:
    """The manifest alone: the archive's first member, so a list never decompresses a database."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            first = tar.next()
            if first is None or first.name != MANIFEST or not first.isfile() or first.size > _MAX_MANIFEST_BYTES:
                raise BackupError(f"{path.name}: no manifest.json at its start: not a Fondation backup")
            raw = _read_all(tar, first)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise BackupError(f"{path.name}: unreadable archive ({error})") from None
    return Manifest.from_json(raw, path.name)


def _archives(directory: Path) -> list[Path]:
    """The directory's archives, oldest first (their names sort by time)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if ARCHIVE_NAME.fullmatch(p.name) and p.is_file())


# ------------------------------------------------------------------------------------------------ verify


def verify_backup(settings: Settings, path: Path) -> Verified:
    """Unpack, restore into a throwaway place, check integrity, schema revision and counts against the manifest."""
    with _verified(settings, path) as (verified, _unpacked):
        return verified


@contextmanager
def _verified(settings: Settings, path: Path) -> Iterator[tuple[Verified, Path]]:
    """Verify `path`; yield the result and the folder it was unpacked into (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="fondation-verify-") as scratch:
        unpacked = Path(scratch)
        manifest = unpack(path, unpacked)
        checks = [f"{len(manifest.members) + 1} members, each matching its SHA-256 and size in the manifest"]
        dump = unpacked / DATABASE_MEMBERS[manifest.backend]
        if manifest.backend == "sqlite":
            facts = _check_sqlite_copy(dump, path.name)
            checks.append("PRAGMA integrity_check: ok; no foreign key violation")
        else:
            facts = _check_pg_dump(settings, dump, path.name)
            checks.append("pg_restore into a scratch database: exit status 0")
        checks.append(_check_schema(facts, manifest, path.name))
        _check_counts(facts.counts, manifest.counts, f"{path.name}: the restored database")
        checks.append(f"row counts match the manifest ({summary(manifest.counts)})")
        yield Verified(path, manifest, tuple(checks)), unpacked


def unpack(path: Path, into: Path) -> Manifest:
    """Write out every member of the archive into `into`, checking each against the manifest; returns it."""
    manifest: Manifest | None = None
    seen: set[str] = set()
    try:
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                name = _check_member_name(info.name, path.name)
                if name in seen:
                    raise BackupError(f"{path.name}: member {name} appears twice: refusing the archive")
                seen.add(name)
                if not info.isfile():
                    raise BackupError(f"{path.name}: member {name} is not a regular file: refusing the archive")
                if name == MANIFEST:
                    if manifest is not None or info.size > _MAX_MANIFEST_BYTES:
                        raise BackupError(f"{path.name}: unexpected manifest.json: refusing the archive")
                    manifest = Manifest.from_json(_read_all(tar, info), path.name)
                    continue
                if manifest is None:
                    raise BackupError(f"{path.name}: no manifest.json at its start: not a Fondation backup")
                _unpack_member(tar, info, name, manifest, into / name, path.name)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise BackupError(f"{path.name}: unreadable archive ({error})") from None
    if manifest is None:
        raise BackupError(f"{path.name}: no manifest.json: not a Fondation backup")
    missing = sorted(set(manifest.members) - seen)
    if missing:
        raise BackupError(f"{path.name}: {', '.join(missing)} listed in the manifest but missing from the archive")
    return manifest


def _check_member_name(name: str, archive: str) -> str:
    """`name` if it is one a backup may hold: a relative path under a known top-level folder, no `..`."""
    parts = name.split("/")
    known_place = name == MANIFEST or (
        len(parts) > 1 and parts[0] in _TOP_LEVEL and (parts[0] != "credentials" or name.startswith(CREDENTIALS_PREFIX))
    )
    if not known_place or any(part in ("", ".", "..") for part in parts) or "\\" in name or "\x00" in name:
        raise BackupError(f"{archive}: member {name!r} is outside what a backup holds: refusing the archive")
    return name


def _unpack_member(
    tar: tarfile.TarFile, info: tarfile.TarInfo, name: str, manifest: Manifest, destination: Path, archive: str
) -> None:
    expected = manifest.members.get(name)
    if expected is None:
        raise BackupError(f"{archive}: member {name} is not listed in the manifest: refusing the archive")
    if info.size != expected.size:
        raise BackupError(f"{archive}: member {name} has {info.size} bytes, the manifest says {expected.size}")
    destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    source = tar.extractfile(info)
    assert source is not None  # a regular file
    with os.fdopen(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected.sha256:
        raise BackupError(
            f"{archive}: member {name} does not match its SHA-256 in the manifest: the archive was altered or damaged"
        )


def _check_sqlite_copy(copy: Path, archive: str) -> _Facts:
    try:
        conn = sqlite3.connect(copy)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{archive}: the database fails PRAGMA integrity_check: {'; '.join(problems[:3])}")
            violations = conn.execute("PRAGMA foreign_key_check").fetchall()
            if violations:
                raise BackupError(f"{archive}: the database has {len(violations)} foreign key violation(s)")
            return _read_facts(_sqlite_query(conn), "sqlite")
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise BackupError(f"{archive}: the database cannot be read ({error})") from None


def _check_pg_dump(settings: Settings, dump: Path, archive: str) -> _Facts:
    """Restore the dump into a scratch database created next to the configured one, read it, drop it."""
    if settings.backend != "postgresql":
        raise BackupError(
            f"{archive} holds a PostgreSQL dump, verified by restoring it on a PostgreSQL server: "
            "set FONDATION_DATABASE_URL to one"
        )
    name = f"fondation_verify_{uuid.uuid4().hex[:12]}"
    scratch_url = _with_database_name(settings.database_url, name)
    admin = Database(settings.database_url)
    try:
        try:
            _autocommit(admin, f"CREATE DATABASE {name} TEMPLATE template0")
        except DatabaseError as error:
            hint = ": the database user needs CREATEDB" if "permission denied" in str(error) else ""
            raise BackupError(f"cannot create a scratch database to verify {archive} ({error}){hint}") from None
        try:
            _run_pg_tool(settings, "pg_restore", scratch_url, "--exit-on-error", "--no-owner", "--no-privileges", dump)
            scratch = Database(scratch_url)
            try:
                return scratch.read(lambda conn: _read_facts(_pg_query(conn), "postgresql"))
            finally:
                scratch.dispose()
        finally:
            _autocommit(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        admin.dispose()


def _check_schema(facts: _Facts, manifest: Manifest, archive: str) -> str:
    if facts.revision != manifest.schema_revision:
        raise BackupError(
            f"{archive}: the database has schema revision {facts.revision}, the manifest says "
            f"{manifest.schema_revision}: the archive was altered"
        )
    if facts.revision in KNOWN_REVISIONS or facts.compatible_from in KNOWN_REVISIONS:
        return f"schema revision {facts.revision} (this Fondation: {HEAD})"
    raise BackupError(
        f"{archive}: schema revision {facts.revision} is newer than this Fondation knows (up to {HEAD}): "
        "verify and restore it with the Fondation that made it"
    )


def _check_counts(found: dict[str, int], expected: dict[str, int], what: str) -> None:
    differing = [
        f"{table} {found.get(table, 0)} (manifest: {expected.get(table, 0)})"
        for table in sorted(set(found) | set(expected))
        if found.get(table, 0) != expected.get(table, 0)
    ]
    if differing:
        raise BackupError(f"{what} has row counts that differ from the manifest: {', '.join(differing)}")


# ----------------------------------------------------------------------------------------------- restore


def restore_backup(settings: Settings, path: Path, *, force: bool = False, with_credentials: bool = False) -> Restored:
    """Replace the configured database by the archive's, after verifying it; refused while workers are live.

    SQLite: the file is replaced atomically (written beside, fsynced, renamed), the previous one kept as
    FILE.before-restore. PostgreSQL: `pg_restore --clean --if-exists` in one transaction, so a failure
    leaves the database as it was.
    """
    manifest = read_manifest(path)
    if manifest.backend != settings.backend:
        raise BackupError(
            f"{path.name} holds a {manifest.backend} database and the configured one is {settings.backend}: "
            "restore it where FONDATION_DATABASE_URL names a database of the same kind"
        )
    if with_credentials and not manifest.with_credentials:
        raise BackupError(f"{path.name} holds no credentials (it was made without --with-credentials)")
    live = _live_workers_or_refuse(settings, force)
    with _verified(settings, path) as (_verified_archive, unpacked):
        dump = unpacked / DATABASE_MEMBERS[manifest.backend]
        previous = None
        if settings.backend == "sqlite":
            previous = _install_sqlite(dump, sqlite_path(settings))
            facts = _sqlite_facts(sqlite_path(settings))
        else:
            _run_pg_tool(
                settings,
                "pg_restore",
                settings.database_url,
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                dump,
            )
            restored = Database(settings.database_url)
            try:
                facts = restored.read(lambda conn: _read_facts(_pg_query(conn), "postgresql"))
            finally:
                restored.dispose()
        if not live:  # live workers (--force) may have written since: counts would differ for good reasons
            _check_counts(facts.counts, manifest.counts, f"{_display_database(settings)} after the restore")
        credentials = 0
        if with_credentials:
            credentials = _restore_credentials(unpacked / CREDENTIALS_PREFIX, settings.claude_config_dir)
    return Restored(path, manifest, _display_database(settings), previous, credentials, live)


def live_workers(settings: Settings) -> tuple[str, ...]:
    """Ids of the workers the registry says are up (seen within a lease, by the database's clock).

    A database that does not exist yet, or has no schema, has no live worker; one that cannot be read
    raises `DatabaseError`.
    """
    if settings.backend == "sqlite" and not sqlite_path(settings).exists():
        return ()
    database = Database(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        if not database.read(lambda conn: inspect(conn).has_table("workers")):
            return ()
        found = WorkerRegistry(database).list()
        clock = database.scalar(f"SELECT {database.dialect.now}")
        now = datetime.fromtimestamp(clock, UTC) if isinstance(clock, float) else clock
        return tuple(info.id for info in found if info.is_up(now, settings.lease_seconds))
    finally:
        database.dispose()


def _live_workers_or_refuse(settings: Settings, force: bool) -> tuple[str, ...]:
    try:
        live = live_workers(settings)
    except DatabaseError as error:
        if force:
            return ()
        raise LiveWorkersError(
            f"cannot tell whether workers are live ({error}): stop every worker, then run again with --force"
        ) from None
    if live and not force:
        raise LiveWorkersError(
            f"{len(live)} worker(s) live ({', '.join(live)}): stop them first "
            "(systemctl stop fondation-worker), or pass --force"
        )
    return live


def _install_sqlite(copy: Path, target: Path) -> Path | None:
    """Put `copy` in place of `target` atomically; the previous file (and its WAL) stay as FILE.before-restore."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.restoring")
    staged.unlink(missing_ok=True)
    shutil.copyfile(copy, staged)
    if target.exists():
        shutil.copymode(target, staged)
    with staged.open("rb") as file:
        os.fsync(file.fileno())
    previous = None
    if target.exists():
        previous = target.with_name(f"{target.name}.before-restore")
        # Hard links: the previous state is kept exactly, its side files under the names SQLite looks for.
        for suffix in ("", *_SQLITE_SIDE_FILES):
            kept = Path(f"{previous}{suffix}")
            kept.unlink(missing_ok=True)
            if suffix != "-shm" and Path(f"{target}{suffix}").exists():
                os.link(f"{target}{suffix}", kept)
    os.replace(staged, target)
    # The old file's WAL, journal and shared-memory index belong to it: left there, SQLite would read
    # them as the new file's and replay the old transactions into it.
    for suffix in _SQLITE_SIDE_FILES:
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    _fsync_dir(target.parent)
    return previous


def _restore_credentials(source: Path, config_dir: Path) -> int:
    """Replace the credentials folder's content by the archive's (files 600, folders 700)."""
    config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    revoke_credentials(config_dir)
    restored = 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            destination = config_dir / path.relative_to(source)
            destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
            destination.chmod(0o600)
            restored += 1
    return restored


# ------------------------------------------------------------------------------------------------ shared


def sqlite_path(settings: Settings) -> Path:
    """The SQLite file FONDATION_DATABASE_URL names."""
    return Path(make_url(normalise_url(settings.database_url)).database or "").expanduser()


def _display_database(settings: Settings) -> str:
    if settings.backend == "sqlite":
        return str(sqlite_path(settings))
    return mask_url_password(settings.database_url)


def _sqlite_facts(path: Path) -> _Facts:
    conn = sqlite3.connect(path)
    try:
        return _read_facts(_sqlite_query(conn), "sqlite")
    finally:
        conn.close()


def _read_facts(query: Callable[[str], list[Any]], backend: str) -> _Facts:
    if backend == "sqlite":
        tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        tables_sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    present = {row[0] for row in query(tables_sql)}
    revision = None
    if "alembic_version" in present:
        rows = query("SELECT version_num FROM alembic_version")
        revision = rows[0][0] if rows else None
    compatible_from = None
    if "system_state" in present:
        rows = query("SELECT value FROM system_state WHERE key = 'compatible_from'")
        compatible_from = str(rows[0][0]).strip('"') if rows else None
    counts = {
        table.name: int(query(f'SELECT count(*) FROM "{table.name}"')[0][0])
        for table in sorted(metadata.sorted_tables, key=lambda t: t.name)
        if table.name in present
    }
    return _Facts(revision, compatible_from, counts)


def _sqlite_query(conn: sqlite3.Connection) -> Callable[[str], list[Any]]:
    return lambda sql: conn.execute(sql).fetchall()


def _pg_query(conn: Connection) -> Callable[[str], list[Any]]:
    return lambda sql: list(conn.execute(text(sql)).all())


def _autocommit(database: Database, sql: str) -> None:
    with database.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(sql))


def _with_database_name(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def pg_tool(settings: Settings, name: str) -> str:
    """pg_dump or pg_restore: from FONDATION_PG_BIN, else the newest Debian server binaries, else the PATH.

    The newest first, because pg_dump refuses a server newer than itself.
    """
    if settings.pg_bin:
        candidate = Path(settings.pg_bin) / name
        if not candidate.is_file():
            raise BackupError(f"FONDATION_PG_BIN ({settings.pg_bin}) has no {name}")
        return str(candidate)
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise BackupError(f"{name} not found: install postgresql-client, or set FONDATION_PG_BIN")
    return on_path


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.parent.name))


def _run_pg_tool(settings: Settings, name: str, url: str, *args: str | Path) -> None:
    """Run a PostgreSQL client tool on `url`; the password goes through PGPASSWORD, never argv."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    netloc = f"{parts.username or ''}@{host}" if parts.username else host
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    conninfo = urlunsplit(("postgresql", netloc, parts.path, parts.query, ""))
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
    done = subprocess.run(
        [pg_tool(settings, name), f"--dbname={conninfo}", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        detail = next((line for line in lines if "error" in line.lower()), lines[0] if lines else "no message")
        raise BackupError(f"{name} failed (exit {done.returncode}): {detail.strip()}")


def _staged_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _digest(path: Path) -> Member:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return Member(digest.hexdigest(), path.stat().st_size)


def _read_all(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    file: BinaryIO | None = tar.extractfile(info)
    assert file is not None  # a regular file
    return file.read()


def _fsync_dir(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def summary(counts: dict[str, int]) -> str:
    """The counts an operator looks at first, as words: `12 jobs, 80 job events, 3 courses, ...`."""
    shown = ("jobs", "job_events", "courses", "documents", "users")
    return ", ".join(f"{counts.get(table, 0)} {table.replace('_', ' ')}" for table in shown)

"""`fondation backup create|list|verify|restore` through the real console script, on each backend.

A round trip must give back every row of every table; verify must catch an archive that was altered
(a member, the counts, the schema revision, a damaged database, a path outside the archive); restore
must refuse while a worker is up unless forced; retention keeps the newest; nothing secret goes into
an archive unless asked for with --with-credentials.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from cli_harness import Run
from fondation.accounts import Accounts
from fondation.config import Settings
from fondation.domain.courses import NewCourse, NewDocument
from fondation.domain.errors import DatabaseError
from fondation.domain.jobs import ErrorKind, JobStatus
from fondation.ops.backups import BackupError, verify_backup
from fondation.queue import JobQueue
from fondation.store import Database, open_database
from fondation.store.schema import metadata
from helpers import source
from worker_harness import FAST, FONDATION, StartWorker, wait_until

SECRET_KEY = "sk-fondation-0123456789-SECRET"
SECRETS = {
    "FONDATION_SECRET_KEY": SECRET_KEY,
    "FONDATION_ANTHROPIC_API_KEY": "sk-ant-api03-ABCDEFGHIJKLMNOP",
    "FONDATION_OPENAI_API_KEY": "sk-openai-QRSTUVWXYZ987654",
    "FONDATION_GIT_TOKEN": "ghp_gittoken1234567890abcdef",
    "GITHUB_CLIENT_SECRET": "github-client-secret-55555",
    "FONDATION_CLAUDE_OAUTH_TOKEN": "sk-ant-oat01-CLAUDEOAUTH",
}
GITHUB_TOKEN = "gho_usertoken_0987654321zyxw"
CLAUDE_CREDENTIAL = "claude-refresh-token-7777777"
DB_PASSWORD = "Db-Passw0rd-4242"

Fondation = Callable[..., Run]


# ---------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def fondation(database_url: str, tmp_path: Path) -> Fondation:
    """`fondation ARGS` on the test's database, backups in tmp_path/backups, the worker harness's lease."""
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LC_ALL": "C.UTF-8",
        "LOGNAME": "alice",
        **FAST,
        "FONDATION_DATABASE_URL": database_url,
        "FONDATION_ENV_FILE": str(tmp_path / "absent.env"),
        "FONDATION_BACKUP_DIR": str(tmp_path / "backups"),
        "FONDATION_CLAUDE_CONFIG_DIR": str(tmp_path / "claude-creds"),
    }

    def run(*args: str, **env: str) -> Run:
        done = subprocess.run(
            [str(FONDATION), *args],
            env={**base_env, **env},
            cwd=tmp_path,
            capture_output=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    return run


def course(title: str, pages: int) -> NewCourse:
    documents = tuple(
        NewDocument(f"chapters/{n:02d}-c.md", "chapter", f"Chapter {n}", n, f"# Chapter {n} — été\n\n    x = {n}\n")
        for n in range(1, pages)
    )
    return NewCourse(
        title=title,
        language="fr",
        commit_sha="b" * 40,
        provider="offline",
        options={"language": "fr"},
        quality={"path_precision": 1.0},
        documents=(NewDocument("index.md", "index", title, 0, f"# {title}\n" + "ligne\n" * 500), *documents),
    )


def populate(database_url: str) -> None:
    """Jobs in several states with their events, two courses with documents, users, tokens, auth events."""
    database = open_database(database_url)
    try:
        queue = JobQueue(database)
        for n in range(1, 3):
            queue.enqueue(source(n))
            (lease,) = queue.claim("w1", lease_seconds=30)
            queue.complete(lease, {"chapters": 3}, course=course(f"repo{n}", 4))
        queue.enqueue(source(3))
        (lease,) = queue.claim("w1", lease_seconds=30)
        queue.fail(lease, ErrorKind.PERMANENT, "repository not found")
        queue.enqueue(source(4))
        settings = Settings(database_url=database_url)
        accounts = Accounts(database, settings, secret=SECRET_KEY)
        accounts.add_user("alice", "correct horse battery", admin=True)
        accounts.add_user("bob", "another fine password")
        accounts.issue_api_token("bob", "ci")
        accounts.authenticate("alice", "correct horse battery", remote="127.0.0.1")
        accounts.set_github_token("bob", GITHUB_TOKEN, check=False)
    finally:
        database.dispose()


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order."""
    database = Database(database_url)
    try:
        return database.read(
            lambda conn: {
                table.name: [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]
                for table in metadata.sorted_tables
            }
        )
    finally:
        database.dispose()


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {info.name: tar.extractfile(info).read() for info in tar if info.isfile()}  # type: ignore[union-attr]


Members = list[tuple[tarfile.TarInfo, bytes]]


def rewrite(archive: Path, into: Path, change: Callable[[dict[str, bytes]], Members]) -> Path:
    """A copy of the archive whose members `change` returns (as TarInfo and content), in its order."""
    with tarfile.open(into, "w:gz") as tar:
        for info, data in change(members(archive)):
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return into


def plain(content: dict[str, bytes]) -> Members:
    return [(tarfile.TarInfo(name), data) for name, data in content.items()]


def with_manifest(content: dict[str, bytes], edit: Callable[[dict[str, Any]], None]) -> dict[str, bytes]:
    manifest = json.loads(content["manifest.json"])
    edit(manifest)
    return {**content, "manifest.json": json.dumps(manifest).encode()}


def created(run: Run) -> dict[str, Any]:
    made: dict[str, Any] = run.json()
    return made


# ---------------------------------------------------------------------------------------------- round trip


def test_round_trip_gives_back_every_row(backend: str, database_url: str, fondation: Fondation, tmp_path: Path) -> None:
    populate(database_url)
    before = snapshot(database_url)
    assert len(before["jobs"]) == 4 and len(before["courses"]) == 2 and len(before["documents"]) == 8
    assert len(before["users"]) == 2 and before["api_tokens"] and before["auth_events"]

    made = created(fondation("backup", "create", "--json"))
    archive = Path(made["path"])
    assert archive.parent == tmp_path / "backups"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert stat.S_IMODE(archive.parent.stat().st_mode) == 0o700
    manifest = made["manifest"]
    assert manifest["backend"] == backend and manifest["schema_revision"] == "0003"
    assert manifest["counts"] == {name: len(rows) for name, rows in before.items()}
    database_member = "database/fondation.sqlite" if backend == "sqlite" else "database/fondation.pgdump"
    content = members(archive)
    assert list(content) == ["manifest.json", "config/settings.json", database_member]
    assert set(manifest["members"]) == {"config/settings.json", database_member}
    settings_view = json.loads(content["config/settings.json"])
    assert settings_view["FONDATION_BACKUP_DIR"] == str(tmp_path / "backups")

    (listed,) = fondation("backup", "list", "--json").json()
    assert listed["path"] == str(archive) and listed["problem"] is None
    assert listed["manifest"]["counts"]["jobs"] == 4
    assert "4" in fondation("backup", "list").ok()

    verified = fondation("backup", "verify", str(archive), "--json").json()
    assert verified["ok"] is True and len(verified["checks"]) == 4
    assert "2 courses, 8 documents, 2 users" in fondation("backup", "verify", "latest").ok()

    # Life goes on after the backup: a job more, one canceled, a user more.
    database = Database(database_url)
    queue = JobQueue(database)
    queue.enqueue(source(9))
    queue.cancel(before["jobs"][-1][0], reason="changed my mind")
    Accounts(database, Settings(database_url=database_url), secret=SECRET_KEY).add_user("carol", "yet another one!")
    database.dispose()
    assert snapshot(database_url) != before

    out = fondation("backup", "restore", "latest").ok()
    assert f"restored {archive.name}" in out
    assert snapshot(database_url) == before
    if backend == "sqlite":
        kept = Path(database_url.removeprefix("sqlite:///") + ".before-restore")
        assert f"kept as {kept}" in out
        assert len(snapshot(f"sqlite:///{kept}")["jobs"]) == 5, "the replaced database is kept as it was"

    database = Database(database_url)
    try:
        with pytest.raises(DatabaseError, match="append-only"):  # the triggers came back with the tables
            database.write(lambda conn: conn.execute(text("UPDATE job_events SET reason = 'rewritten'")))
        new = JobQueue(database).enqueue(source(10)).job
        assert new.id > max(row[0] for row in before["jobs"]), "ids carry on after the restored ones"
    finally:
        database.dispose()


# ---------------------------------------------------------------------------------------------- verify


def test_verify_catches_an_altered_or_damaged_archive(
    backend: str, database_url: str, fondation: Fondation, tmp_path: Path
) -> None:
    populate(database_url)
    archive = Path(created(fondation("backup", "create", "--json"))["path"])
    member = "database/fondation.sqlite" if backend == "sqlite" else "database/fondation.pgdump"
    bad = tmp_path / "bad"
    bad.mkdir()

    def verify(altered: Path) -> str:
        return fondation("backup", "verify", str(altered)).error(1)

    # A member changed after the manifest was written.
    def edit_config(content: dict[str, bytes]) -> Members:
        changed = content["config/settings.json"].replace(b"BACKUP_KEEP", b"BACKUP_KEEQ")
        return plain({**content, "config/settings.json": changed})

    assert "config/settings.json does not match its SHA-256" in verify(rewrite(archive, bad / "a.tar.gz", edit_config))

    # Counts that are not the database's, with every checksum right: only restoring the database shows it.
    def more_jobs(content: dict[str, bytes]) -> Members:
        return plain(with_manifest(content, lambda m: m["counts"].update(jobs=5)))

    message = verify(rewrite(archive, bad / "b.tar.gz", more_jobs))
    assert "row counts that differ from the manifest: jobs 4 (manifest: 5)" in message

    # A schema revision that is not the database's.
    def other_revision(content: dict[str, bytes]) -> Members:
        return plain(with_manifest(content, lambda m: m.update(schema_revision="0002")))

    assert "schema revision 0003, the manifest says 0002" in verify(rewrite(archive, bad / "c.tar.gz", other_revision))

    # A damaged database whose manifest was made to match: the restore itself must fail.
    def truncated(content: dict[str, bytes]) -> Members:
        damaged = content[member][: len(content[member]) * 2 // 3]

        def fix(m: dict[str, Any]) -> None:
            m["members"][member] = {"sha256": hashlib.sha256(damaged).hexdigest(), "size": len(damaged)}

        return plain(with_manifest({**content, member: damaged}, fix))

    message = verify(rewrite(archive, bad / "d.tar.gz", truncated))
    if backend == "sqlite":
        assert "integrity_check" in message or "cannot be read" in message, message
    else:
        assert "pg_restore failed" in message, message

    # The untouched archive still verifies.
    fondation("backup", "verify", str(archive)).ok()
    if backend == "postgresql":
        database = Database(database_url)
        scratch = database.scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'fondation_verify_%'")
        database.dispose()
        assert scratch == 0, "every scratch database was dropped, failed verifications' too"


@pytest.mark.backends("sqlite")
def test_an_untrusted_archive_is_refused_and_nothing_lands_outside(
    database_url: str, fondation: Fondation, tmp_path: Path
) -> None:
    """Paths outside the archive, links, unlisted or misplaced members: the archive's layout alone refuses them."""
    archive = Path(created(fondation("backup", "create", "--json"))["path"])
    settings = Settings(database_url=database_url)

    def refused(altered: Path) -> str:
        with pytest.raises(BackupError) as caught:
            verify_backup(settings, altered)
        return str(caught.value)

    escape = tmp_path / "escaped.txt"

    def traversal(content: dict[str, bytes]) -> Members:
        # Enough `..` to climb from wherever it is unpacked to the root, then down to `escape`.
        return [*plain(content), (tarfile.TarInfo("config/" + "../" * 40 + str(escape).lstrip("/")), b"boom")]

    assert "outside what a backup holds" in refused(rewrite(archive, tmp_path / "e.tar.gz", traversal))

    def absolute(content: dict[str, bytes]) -> Members:
        return [*plain(content), (tarfile.TarInfo(str(escape)), b"boom")]

    assert "outside what a backup holds" in refused(rewrite(archive, tmp_path / "f.tar.gz", absolute))

    def link(content: dict[str, bytes]) -> Members:
        info = tarfile.TarInfo("config/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        return [*plain(content), (info, b"")]

    assert "config/link is not a regular file" in refused(rewrite(archive, tmp_path / "g.tar.gz", link))

    def unlisted(content: dict[str, bytes]) -> Members:
        return [*plain(content), (tarfile.TarInfo("config/extra.json"), b"{}")]

    assert "config/extra.json is not listed in the manifest" in refused(
        rewrite(archive, tmp_path / "h.tar.gz", unlisted)
    )

    def manifest_last(content: dict[str, bytes]) -> Members:
        manifest = content.pop("manifest.json")
        return [*plain(content), (tarfile.TarInfo("manifest.json"), manifest)]

    assert "no manifest.json at its start" in refused(rewrite(archive, tmp_path / "i.tar.gz", manifest_last))

    (tmp_path / "j.tar.gz").write_bytes(b"not a gzip file")
    assert "unreadable archive" in refused(tmp_path / "j.tar.gz")
    assert not escape.exists()

    def twice(content: dict[str, bytes]) -> Members:
        return [*plain(content), (tarfile.TarInfo("config/settings.json"), content["config/settings.json"])]

    assert "config/settings.json appears twice" in refused(rewrite(archive, tmp_path / "k.tar.gz", twice))

    # A listing names only archives of our own pattern, and says which of them cannot be read.
    assert fondation("backup", "list", "--dir", str(tmp_path), "--json").json() == []
    broken = tmp_path / "backups" / "fondation-backup-20000101-000000-000.tar.gz"
    broken.write_bytes(b"\x1f\x8b garbage")
    entries = fondation("backup", "list", "--json").json()
    assert [Path(e["path"]).name for e in entries] == [archive.name, broken.name]
    assert entries[1]["manifest"] is None and "unreadable archive" in entries[1]["problem"]
    assert "no such file" in fondation("backup", "verify", str(tmp_path / "nope.tar.gz")).error(2)


# ---------------------------------------------------------------------------------------------- restore


def test_restore_is_refused_while_a_worker_is_up_unless_forced(
    database_url: str, fondation: Fondation, start_worker: StartWorker, queue: JobQueue
) -> None:
    queue.enqueue(source(1))
    archive = Path(created(fondation("backup", "create", "--json"))["path"])
    queue.enqueue(source(2), options={"do": "sleep", "seconds": 60})
    worker = start_worker("w1")
    wait_until(lambda: queue.counts()[JobStatus.RUNNING] == 1, timeout=15, what="w1 to run a job")

    message = fondation("backup", "restore", str(archive)).error(1)
    assert "1 worker(s) live (w1)" in message and "--force" in message
    assert queue.counts()[JobStatus.RUNNING] == 1 and len(queue.list()) == 2, "nothing was restored"

    out = fondation("backup", "restore", str(archive), "--force").ok()
    assert "workers were live during the restore (w1): restart them now" in out
    worker.close()
    queue.db.dispose()
    restored = snapshot(database_url)
    assert [row[0] for row in restored["jobs"]] == [1]


@pytest.mark.backends("sqlite")
def test_an_unreadable_sqlite_file_is_replaced_only_with_force(
    database_url: str, fondation: Fondation, tmp_path: Path
) -> None:
    populate(database_url)
    before = snapshot(database_url)
    fondation("backup", "create").ok()
    path = Path(database_url.removeprefix("sqlite:///"))
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    path.write_bytes(b"overwritten by a runaway process" * 1000)

    message = fondation("backup", "restore", "latest").error(1)
    assert "cannot tell whether workers are live" in message and "--force" in message
    fondation("backup", "restore", "latest", "--force").ok()
    assert snapshot(database_url) == before
    assert Path(f"{path}.before-restore").read_bytes().startswith(b"overwritten by a runaway process")


@pytest.mark.backends("postgresql")
def test_an_archive_restores_only_into_its_own_kind_of_database(
    database_url: str, fondation: Fondation, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'other.db'}"
    open_database(sqlite_url).dispose()
    sqlite_archive = Path(created(fondation("backup", "create", "--json", FONDATION_DATABASE_URL=sqlite_url))["path"])
    pg_archive = Path(created(fondation("backup", "create", "--json"))["path"])

    message = fondation("backup", "restore", str(sqlite_archive)).error(1)
    assert "holds a sqlite database and the configured one is postgresql" in message
    message = fondation("backup", "verify", str(pg_archive), FONDATION_DATABASE_URL=sqlite_url).error(1)
    assert "set FONDATION_DATABASE_URL to one" in message
    fondation("backup", "verify", str(sqlite_archive)).ok()  # a SQLite archive needs no server to verify


# ---------------------------------------------------------------------------------------------- retention


@pytest.mark.backends("sqlite")
def test_retention_keeps_the_newest_archives(database_url: str, fondation: Fondation, tmp_path: Path) -> None:
    made = [created(fondation("backup", "create", "--json", FONDATION_BACKUP_KEEP="2")) for _ in range(3)]
    paths = [Path(m["path"]) for m in made]
    assert len(set(paths)) == 3
    assert [m["removed"] for m in made] == [[], [], [str(paths[0])]]
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == [paths[1].name, paths[2].name]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in paths[1:])

    elsewhere = tmp_path / "elsewhere"
    out = fondation("backup", "create", "--out", str(elsewhere), FONDATION_BACKUP_KEEP="0").ok()
    (archive,) = elsewhere.iterdir()
    assert out.startswith(f"backup written: {archive} (")
    assert len(list((tmp_path / "backups").iterdir())) == 2
    listed = fondation("backup", "list", "--dir", str(elsewhere), "--json").json()
    assert [Path(e["path"]) for e in listed] == [archive]


# ---------------------------------------------------------------------------------------------- secrets


def test_no_secret_goes_into_a_backup_unless_asked(
    backend: str, database_url: str, fondation: Fondation, tmp_path: Path
) -> None:
    populate(database_url)
    url = database_url
    if backend == "postgresql":  # the throwaway cluster trusts every local login: any password will do
        url = database_url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)
    creds = tmp_path / "claude-creds"
    (creds / "sub").mkdir(parents=True)
    (creds / ".credentials.json").write_text(json.dumps({"refreshToken": CLAUDE_CREDENTIAL}))
    (creds / "sub" / "settings.json").write_text("{}")
    env = {**SECRETS, "FONDATION_DATABASE_URL": url}
    everything = [*SECRETS.values(), GITHUB_TOKEN, DB_PASSWORD, CLAUDE_CREDENTIAL]

    run = fondation("backup", "create", "--json", **env)
    archive = Path(created(run)["path"])
    raw = gzip.decompress(archive.read_bytes())
    assert b"FONDATION_SECRET_KEY" in raw, "the settings are there, masked"
    assert [s for s in everything if s.encode() in raw] == []
    assert [s for s in everything if s in run.stdout + run.stderr] == []
    assert created(run)["manifest"]["with_credentials"] is False

    without = archive
    assert "holds the Claude credentials" in fondation("backup", "create", "--with-credentials", **env).ok()
    listed = fondation("backup", "list", "--json", **env).json()
    assert [(e["path"], e["manifest"]["with_credentials"]) for e in listed][1:] == [(str(without), False)]
    archive = Path(listed[0]["path"])
    assert listed[0]["manifest"]["with_credentials"] is True
    content = members(archive)
    assert json.loads(content["credentials/claude/.credentials.json"]) == {"refreshToken": CLAUDE_CREDENTIAL}
    assert "credentials/claude/sub/settings.json" in content
    raw = gzip.decompress(archive.read_bytes())
    assert [s for s in everything if s.encode() in raw] == [CLAUDE_CREDENTIAL]

    # The credentials come back only when asked for, files 600.
    for path in sorted(creds.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    fondation("backup", "restore", str(archive), **env).ok()
    assert list(creds.iterdir()) == []
    out = fondation("backup", "restore", str(archive), "--with-credentials", **env).ok()
    assert f"2 credential file(s) restored into {creds}" in out
    restored = creds / ".credentials.json"
    assert json.loads(restored.read_text()) == {"refreshToken": CLAUDE_CREDENTIAL}
    assert stat.S_IMODE(restored.stat().st_mode) == 0o600
    message = fondation("backup", "restore", str(without), "--with-credentials", **env).error(1)
    assert "holds no credentials" in message
    nothing = fondation("backup", "create", "--with-credentials", FONDATION_CLAUDE_CONFIG_DIR=str(tmp_path / "none"))
    assert "holds no credentials: nothing to add" in nothing.error(1)

"""`fondation claude`: status, backup, restore, revoke and login of the Claude CLI's credentials folder.

Every command runs as the real console script. Archives that try to escape the folder or smuggle links and
devices are built byte for byte with `tarfile`, and must be refused before anything is written. `login`
runs the CLI's interactive browser login, which no test can complete: a stand-in `claude` program records
how it was started and stores a login the way the CLI does; `status --check` runs the real CLI against the
fake API.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_harness import Cli, Run
from fake_llm_servers import FakeAnthropic, Reply

ROOT = Path(__file__).resolve().parent.parent
CLAUDE = ROOT / "node_modules" / ".bin" / "claude"
TOKEN = "sk-ant-oat01-fondation-test-login-5f4e3d2c"
REFRESH = "sk-ant-ort01-fondation-test-refresh-1a2b"


def write_login(folder: Path, token: str = TOKEN) -> None:
    """What `claude auth login` leaves in CLAUDE_CONFIG_DIR: an OAuth login and the CLI's own state."""
    folder.mkdir(parents=True, exist_ok=True)
    login = {
        "claudeAiOauth": {
            "accessToken": token,
            "refreshToken": REFRESH,
            "expiresAt": 4102444800000,
            "scopes": ["user:inference", "user:profile"],
            "subscriptionType": "max",
        }
    }
    (folder / ".credentials.json").write_text(json.dumps(login))
    (folder / ".claude.json").write_text(json.dumps({"firstStartTime": "2026-01-01T00:00:00Z"}))
    (folder / "plugins" / "store").mkdir(parents=True, exist_ok=True)
    (folder / "plugins" / "store" / "state.json").write_text("{}")


def tree(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "srv" / "claude-creds"


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    return tmp_path / "srv" / "backups" / "claude-creds"


@pytest.fixture
def claude(cli: Cli, folder: Path, backups: Path) -> Callable[..., Run]:
    """`fondation claude ARGS` with the credentials folder and the backup directory of the test."""

    def run(*args: str, **env: str) -> Run:
        return cli(
            "claude",
            *args,
            FONDATION_CLAUDE_CONFIG_DIR=str(folder),
            FONDATION_CLAUDE_BACKUP_DIR=str(backups),
            **env,
        )

    return run


def test_backup_revoke_restore_round_trip_with_private_modes(
    claude: Callable[..., Run], folder: Path, backups: Path
) -> None:
    write_login(folder)
    folder.chmod(0o755)
    (folder / "link-to-elsewhere").symlink_to("/etc/hostname")
    os.utime(folder / ".credentials.json", (1_700_000_000, 1_700_000_000))
    before = tree(folder)

    shown = claude("status", "--json").json()
    assert (shown["credential"], shown["ready"], shown["mode"]) == ("claude.ai", True, "0755")
    assert shown["expires_at"].startswith("2100-01-01")
    text = claude("status").ok()
    assert "others may read it" in text and "a claude.ai login" in text

    made = claude("backup", "--json").json()
    archive = Path(made["archive"])
    assert (
        archive.parent == backups
        and archive.name.startswith("claude-creds-")
        and archive.suffixes[-2:]
        == [
            ".tar",
            ".gz",
        ]
    )
    assert (mode(archive), mode(backups)) == (0o600, 0o700)
    with tarfile.open(archive) as members:
        entries = {member.name: member for member in members}
    assert set(entries) == {".claude.json", ".credentials.json", "plugins", "plugins/store", "plugins/store/state.json"}
    assert all(member.isreg() or member.isdir() for member in entries.values()), "the symlink was archived"
    assert {member.mode for member in entries.values() if member.isreg()} == {0o600}
    assert {(member.uid, member.uname) for member in entries.values()} == {(0, "")}

    revoked = claude("revoke").ok()
    assert "not ready now" in revoked and "fondation claude restore latest" in revoked
    assert list(folder.iterdir()) == []
    gone = claude("status", "--json")
    assert gone.code == 1 and json.loads(gone.stdout)["ready"] is False

    restored = claude("restore", "latest").ok()
    assert archive.name in restored
    assert tree(folder) == before
    assert mode(folder) == 0o700
    assert {mode(path) for path in folder.rglob("*") if path.is_file()} == {0o600}
    assert (folder / ".credentials.json").stat().st_mtime == 1_700_000_000
    assert sorted(entry.name for entry in folder.parent.iterdir()) == ["backups", "claude-creds"], "staging left"
    assert claude("status", "--json").json()["ready"] is True

    for run in (shown, made):
        assert TOKEN not in json.dumps(run) and REFRESH not in json.dumps(run)
    assert TOKEN not in text + revoked + restored


def test_the_last_five_backups_are_kept(claude: Callable[..., Run], folder: Path, backups: Path) -> None:
    write_login(folder)
    made = [claude("backup", "--json").json()["archive"] for _ in range(7)]
    assert len(set(made)) == 7
    assert sorted(str(path) for path in backups.iterdir()) == made[2:]
    assert claude("status", "--json").json()["latest_backup"] == made[-1]


def test_a_backup_goes_where_out_says(claude: Callable[..., Run], folder: Path, tmp_path: Path) -> None:
    write_login(folder)
    out = tmp_path / "elsewhere"
    line = claude("backup", "--out", str(out)).ok()
    [archive] = out.iterdir()
    assert str(archive) in line and "1 backup kept" in line


def test_a_folder_without_credentials_is_not_backed_up(claude: Callable[..., Run], folder: Path, backups: Path) -> None:
    write_login(folder)
    good = claude("backup", "--json").json()["archive"]
    claude("revoke").ok()
    (folder / ".claude.json").write_text("{}")  # the CLI's state without a login
    refused = claude("backup").error(1)
    assert "nothing to back up" in refused and "fondation claude login" in refused
    assert [str(path) for path in backups.iterdir()] == [good]


def test_restore_latest_without_any_backup_says_so(claude: Callable[..., Run], backups: Path) -> None:
    assert f"no backup in {backups}" in claude("restore").error(1)


def _archive(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"{}") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


class _Zeros(io.RawIOBase):
    """`size` zero bytes, read as a file and never held in memory: a compression bomb's content."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def _bomb(path: Path) -> Path:
    info = tarfile.TarInfo("cache.bin")
    info.size = 129 * 1024 * 1024
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        info_credentials, data = CREDENTIALS
        archive.addfile(info_credentials, io.BytesIO(data))
        archive.addfile(info, io.BufferedReader(_Zeros(info.size)))
    return path


def _truncated(path: Path, outside: Path) -> Path:
    whole = _archive(outside.parent / "whole.tar.gz", CREDENTIALS, _file("big", os.urandom(64 * 1024)))
    path.write_bytes(whole.read_bytes()[:20_000])
    return path


CREDENTIALS = _file(".credentials.json", json.dumps({"claudeAiOauth": {"accessToken": "sk-ant-oat01-evil"}}).encode())
HOSTILE: dict[str, tuple[Callable[[Path, Path], Path], str]] = {
    "absolute path": (
        lambda path, outside: _archive(path, CREDENTIALS, _file(str(outside / "absolute.txt"))),
        "absolute path",
    ),
    "dot-dot": (lambda path, outside: _archive(path, CREDENTIALS, _file("../../escaped.txt")), "climbs out"),
    "dot-dot inside": (
        lambda path, outside: _archive(path, CREDENTIALS, _file("plugins/../../escaped.txt")),
        "climbs out",
    ),
    "symlink": (
        lambda path, outside: _archive(path, CREDENTIALS, _special("hostname", tarfile.SYMTYPE, "/etc/hostname")),
        "not a regular file or directory",
    ),
    "symlink then write through it": (
        lambda path, outside: _archive(
            path, CREDENTIALS, _special("out", tarfile.SYMTYPE, str(outside)), _file("out/through.txt")
        ),
        "not a regular file or directory",
    ),
    "hard link": (
        lambda path, outside: _archive(path, CREDENTIALS, _special("passwd", tarfile.LNKTYPE, "/etc/passwd")),
        "not a regular file or directory",
    ),
    "device": (
        lambda path, outside: _archive(path, CREDENTIALS, _special("null", tarfile.CHRTYPE)),
        "not a regular file or directory",
    ),
    "fifo": (
        lambda path, outside: _archive(path, CREDENTIALS, _special("pipe", tarfile.FIFOTYPE)),
        "not a regular file or directory",
    ),
    "a name twice": (
        lambda path, outside: _archive(path, CREDENTIALS, _file("./.credentials.json")),
        "twice",
    ),
    "too many entries": (
        lambda path, outside: _archive(path, CREDENTIALS, *(_file(f"f{index}") for index in range(5001))),
        "more than 5000 entries",
    ),
    "compression bomb": (lambda path, outside: _bomb(path), "unpacks to more than"),
    "truncated": (_truncated, "not a readable"),
    "not an archive": (lambda path, outside: path.write_bytes(b"#!/bin/sh\nrm -rf /\n") and path, "not a readable"),
    "no credentials": (
        lambda path, outside: _archive(path, _file(".claude.json", b'{"userID": "x"}')),
        "holds no Claude credentials",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_archive_is_refused_before_anything_is_written(
    case: str, claude: Callable[..., Run], folder: Path, tmp_path: Path
) -> None:
    write_login(folder)
    folder.chmod(0o700)
    before = tree(folder)
    outside = tmp_path / "outside"
    outside.mkdir()
    build, reason = HOSTILE[case]
    archive = build(tmp_path / "hostile.tar.gz", outside)

    refused = claude("restore", str(archive)).error(1)

    assert reason in refused
    assert tree(folder) == before, "the folder was touched"
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "srv" / "escaped.txt").exists()
    assert sorted(entry.name for entry in folder.parent.iterdir()) == ["claude-creds"], "staging left behind"


def test_a_symlinked_folder_stays_a_link_to_the_restored_folder(
    claude: Callable[..., Run], folder: Path, tmp_path: Path
) -> None:
    real = tmp_path / "data" / "creds"
    write_login(real)
    folder.parent.mkdir(parents=True)
    folder.symlink_to(real)
    claude("backup").ok()
    claude("revoke").ok()
    claude("restore").ok()
    assert folder.is_symlink() and folder.resolve() == real
    assert (real / ".credentials.json").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can restore files owned by another user")
def test_restored_files_keep_the_owner_of_the_folder(claude: Callable[..., Run], folder: Path) -> None:
    """An operator restoring as root must not leave files the workers' own user cannot read."""
    write_login(folder)
    claude("backup").ok()
    nobody = 65534
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, nobody, nobody)
    claude("restore").ok()
    assert {(path.stat().st_uid, path.stat().st_gid) for path in [folder, *folder.rglob("*")]} == {(nobody, nobody)}


#: The stand-in login program; PARAMETERS becomes [record file, token, exit code].
LOGIN_SCRIPT = """\
import json, os, pathlib, sys
record, token, code = json.loads(PARAMETERS)
folder = pathlib.Path(os.environ["CLAUDE_CONFIG_DIR"])
seen = {"argv": sys.argv[1:], "env": dict(os.environ), "mode": oct(folder.stat().st_mode & 0o777)}
pathlib.Path(record).write_text(json.dumps(seen))
if code == 0 and sys.argv[1:3] == ["auth", "login"]:
    (folder / ".credentials.json").write_text(json.dumps({"claudeAiOauth": {"accessToken": token}}))
sys.exit(code)
"""


def fake_claude(tmp_path: Path, exit_code: int = 0) -> tuple[Path, Path]:
    """A stand-in for `claude`'s browser login: records argv and environment, stores a login, exits."""
    record = tmp_path / "login.json"
    program = tmp_path / "claude"
    parameters = repr(json.dumps([str(record), TOKEN, exit_code]))
    program.write_text(f"#!{sys.executable}\n" + LOGIN_SCRIPT.replace("PARAMETERS", parameters))
    program.chmod(0o755)
    return program, record


def test_login_runs_the_cli_with_the_folder_made_private(
    claude: Callable[..., Run], folder: Path, tmp_path: Path
) -> None:
    program, record = fake_claude(tmp_path)
    env = {
        "FONDATION_CLAUDE_COMMAND": str(program),
        "ANTHROPIC_API_KEY": "sk-ant-api03-would-shadow-the-login",
        "FONDATION_SECRET_KEY": "not-for-the-claude-cli-0123456789",
        "GITHUB_TOKEN": "ghp_NotForTheClaudeCli0123456789abcdefghij",
        "TERM": "xterm-256color",
    }

    said = claude("login", **env).ok()

    seen = json.loads(record.read_text())
    assert seen["argv"] == ["auth", "login"]
    assert seen["env"]["CLAUDE_CONFIG_DIR"] == str(folder) and seen["mode"] == "0o700"
    assert not {"ANTHROPIC_API_KEY", "FONDATION_SECRET_KEY", "GITHUB_TOKEN"} & set(seen["env"])
    assert seen["env"]["TERM"] == "xterm-256color", "the terminal the login needs was taken away"
    assert "logged in: a claude.ai login" in said and "fondation claude backup" in said and TOKEN not in said

    claude("login", "--console", **env).ok()
    assert json.loads(record.read_text())["argv"] == ["auth", "login", "--console"]

    token_said = claude("login", "--setup-token", **env).ok()
    assert json.loads(record.read_text())["argv"] == ["setup-token"]
    assert "FONDATION_CLAUDE_OAUTH_TOKEN" in token_said


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can log in for a folder another user owns")
def test_a_login_made_as_root_belongs_to_the_folder_owner(
    claude: Callable[..., Run], folder: Path, tmp_path: Path
) -> None:
    program, _ = fake_claude(tmp_path)
    folder.mkdir(parents=True)
    os.chown(folder, 65534, 65534)
    claude("login", FONDATION_CLAUDE_COMMAND=str(program)).ok()
    assert (folder / ".credentials.json").stat().st_uid == 65534


def test_a_failed_login_is_one_error_line(claude: Callable[..., Run], tmp_path: Path) -> None:
    program, _ = fake_claude(tmp_path, exit_code=3)
    assert "`claude auth login` exited with status 3" in claude("login", FONDATION_CLAUDE_COMMAND=str(program)).error(1)
    missing = claude("login", FONDATION_CLAUDE_COMMAND=str(tmp_path / "no-claude")).error(2)
    assert "FONDATION_CLAUDE_COMMAND" in missing


@pytest.mark.parametrize("accepted", [True, False], ids=["accepted", "refused"])
def test_status_check_makes_a_real_call_through_the_cli(
    claude: Callable[..., Run], folder: Path, accepted: bool
) -> None:
    assert CLAUDE.exists(), f"{CLAUDE} is missing: run `make assets`"
    write_login(folder)
    with FakeAnthropic(api_key=TOKEN if accepted else "sk-ant-oat01-another-login") as fake:
        fake.script_step("doctor", Reply.text("OK"))
        run = claude(
            "status", "--check", "--json", FONDATION_CLAUDE_COMMAND=str(CLAUDE), FONDATION_ANTHROPIC_BASE_URL=fake.url
        )
        assert fake.calls("/v1/messages") >= 1
    shown = json.loads(run.stdout)
    assert TOKEN not in run.stdout + run.stderr
    if accepted:
        assert (run.code, shown["ready"], shown["check"]["status"]) == (0, True, "ok")
    else:
        assert (run.code, shown["ready"], shown["check"]["status"]) == (1, False, "fail")
        assert "refused" in shown["check"]["detail"]
        assert "fondation claude login" in shown["check"]["fix"]
        assert "fondation claude restore latest" in shown["check"]["fix"]

"""The Claude CLI's credentials folder (`FONDATION_CLAUDE_CONFIG_DIR`, default /srv/claude-creds).

Workers hand this folder to the Claude CLI as its CLAUDE_CONFIG_DIR; the runbook's incident 4
(authentication failed) is handled here: see the state, log in again, back up, restore, revoke.

The folder holds a login (`.credentials.json`: an OAuth token from `claude auth login`, or an API key in
`.claude.json`) and the CLI's own state. Nothing here ever reads a secret out to show it: the status says
which kind of credential there is and until when, never its value.

A backup is a tar.gz of the folder (paths relative to it, modes normalised to 700/600, no owner names),
written mode 600 under a name that sorts by time; the last `KEEP_BACKUPS` are kept. A restore trusts no
archive: it checks every member before it writes anything (regular files and directories only, relative
paths without `..`, size and count caps), extracts into a fresh sibling of the folder, checks that a
credential came out, and only then swaps the sibling in by renames, so the folder is never half restored.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import AliasChoices

from fondation.config import Settings
from fondation.domain.errors import ConfigError, FondationError

CREDENTIALS_FILE = ".credentials.json"
STATE_FILE = ".claude.json"
#: How many backups `backup_credentials` leaves in its directory (older ones are deleted).
KEEP_BACKUPS = 5
BACKUP_PREFIX = "claude-creds-"
_BACKUP_NAME = re.compile(r"^claude-creds-\d{8}-\d{6}-\d{6}\.tar\.gz$")
#: Caps on what a restore accepts (a credentials folder is a few kilobytes; these leave room for CLI state).
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
MAX_CONTENT_BYTES = 128 * 1024 * 1024
MAX_MEMBERS = 5000
_CHUNK = 1024 * 1024
#: What the CLI reads a credential from besides its folder.
_CREDENTIAL_VARIABLES = frozenset({"CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"})


class CredentialsError(FondationError):
    """A credentials operation refused or failed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class CredentialsStatus:
    """What the folder holds, without any secret: the kind of credential and when it expires."""

    folder: Path
    exists: bool
    #: Permission bits of the folder, e.g. "0700" ("" when it does not exist).
    mode: str
    files: int
    #: `claude.ai` (an OAuth login), `api-key` (a Console key) or None when there is no credential.
    credential: str | None
    expires_at: datetime | None
    last_modified: datetime | None
    #: Why a credentials file could not be read, if it could not.
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    """What a checked archive holds."""

    path: Path
    files: int
    content_bytes: int


def ensure_folder(config_dir: Path) -> Path:
    """Create the folder (and its parents) if needed, and make it private (mode 700): it holds a login."""
    config_dir.mkdir(parents=True, exist_ok=True)
    config_dir.chmod(0o700)
    return config_dir


def credentials_status(config_dir: Path) -> CredentialsStatus:
    """The state of the folder: does it exist, is it private, which credential does it hold, since when."""
    if not config_dir.is_dir():
        return CredentialsStatus(config_dir, False, "", 0, None, None, None)
    files = list(_walk_files(config_dir))
    newest = max((path.stat().st_mtime for path in files), default=None)
    credential, expires_at, problem = _read_credential(config_dir)
    return CredentialsStatus(
        folder=config_dir,
        exists=True,
        mode=f"{config_dir.stat().st_mode & 0o777:04o}",
        files=len(files),
        credential=credential,
        expires_at=expires_at,
        last_modified=None if newest is None else datetime.fromtimestamp(newest, UTC),
        problem=problem,
    )


def _read_credential(config_dir: Path) -> tuple[str | None, datetime | None, str | None]:
    """(kind, expiry, problem) from the CLI's files: an OAuth login first, then a stored API key."""
    problems = []
    oauth = _json_file(config_dir / CREDENTIALS_FILE, problems).get("claudeAiOauth")
    if isinstance(oauth, dict) and oauth.get("accessToken"):
        return "claude.ai", _from_milliseconds(oauth.get("expiresAt")), None
    if _json_file(config_dir / STATE_FILE, problems).get("primaryApiKey"):
        return "api-key", None, None
    return None, None, "; ".join(problems) or None


def _from_milliseconds(value: Any) -> datetime | None:
    if not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):  # not a time a clock can show
        return None


def _json_file(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        problems.append(f"{path.name} is unreadable ({type(error).__name__})")
        return {}
    return value if isinstance(value, dict) else {}


def _login_command(command: str, *, setup_token: bool = False, console: bool = False) -> list[str]:
    """The CLI's own interactive login: `auth login` stores a login in the folder; `setup-token` prints a token."""
    if setup_token:
        return [command, "setup-token"]
    return [command, "auth", "login", *(["--console"] if console else [])]


def run_login(command: str, config_dir: Path, *, setup_token: bool = False, console: bool = False) -> int:
    """Run the CLI's login on this terminal with CLAUDE_CONFIG_DIR set to the (private) folder; its exit code.

    The CLI gets this process's environment without Fondation's settings (secrets among them) and without
    the credential variables, which would take precedence over the login being made. Run as root over a
    folder another user owns (the workers' user), the files the login writes are given to that user.
    """
    found = shutil.which(command)
    if found is None:
        raise ConfigError(
            f"Claude Code command {command!r} not found: install it (npm install -g @anthropic-ai/claude-code) "
            "or set FONDATION_CLAUDE_COMMAND to its path"
        )
    owner = ensure_folder(config_dir).stat()
    argv = _login_command(found, setup_token=setup_token, console=console)
    code = subprocess.run(argv, env=_login_environment(config_dir), check=False).returncode
    if os.geteuid() == 0:
        _chown_tree(config_dir, owner.st_uid, owner.st_gid)
    return code


def _login_environment(config_dir: Path) -> dict[str, str]:
    """This environment less Fondation's settings and the credential variables, plus CLAUDE_CONFIG_DIR."""
    settings_variables = {
        str(choice)
        for field in Settings.model_fields.values()
        if isinstance(field.validation_alias, AliasChoices)
        for choice in field.validation_alias.choices
    }
    hidden = settings_variables | _CREDENTIAL_VARIABLES
    env = {
        name: value for name, value in os.environ.items() if name not in hidden and not name.startswith("FONDATION_")
    }
    env["CLAUDE_CONFIG_DIR"] = str(config_dir.absolute())
    return env


def backup_credentials(config_dir: Path, backup_dir: Path, *, keep: int = KEEP_BACKUPS) -> Path:
    """Write a tar.gz of the folder into `backup_dir` (mode 600, name sorting by time); keep the last `keep`.

    A folder without a credential is refused: its backup would push a good one out of the kept few.
    """
    status = credentials_status(config_dir)
    if not status.exists:
        raise CredentialsError(f"nothing to back up: {config_dir} does not exist (FONDATION_CLAUDE_CONFIG_DIR)")
    if status.credential is None:
        raise CredentialsError(
            f"nothing to back up: no Claude credentials in {config_dir} ({status.problem or 'no login stored'}); "
            "log in first with `fondation claude login`"
        )
    if _inside(backup_dir, config_dir):
        raise ConfigError(f"the backup directory {backup_dir} must not be inside {config_dir}")
    backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{BACKUP_PREFIX}{datetime.now(UTC).strftime('%Y%m%d-%H%M%S-%f')}.tar.gz"
    target = backup_dir / name
    partial = backup_dir / f".{name}.partial"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as archive:
                for path in _walk(config_dir):
                    _add(archive, path, config_dir)
            raw.flush()
            os.fsync(raw.fileno())
        inspect_archive(partial)  # what restore will accept, checked now rather than on the day it is needed
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    prune_backups(backup_dir, keep)
    return target


def _add(archive: tarfile.TarFile, path: Path, root: Path) -> None:
    """Add `path` under its name relative to `root`, with private modes and no owner."""
    info = tarfile.TarInfo(path.relative_to(root).as_posix())
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_dir():
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o700, int(path.stat().st_mtime)
        archive.addfile(info)
        return
    with path.open("rb") as data:
        stat = os.fstat(data.fileno())  # the size of what is read, should the CLI rewrite the file meanwhile
        info.mode, info.size, info.mtime = 0o600, stat.st_size, int(stat.st_mtime)
        archive.addfile(info, data)


def _walk(root: Path) -> Iterator[Path]:
    """Directories and regular files under `root`, parents first; links and special files are left out."""
    for current, dirs, files in os.walk(root, followlinks=False):
        base = Path(current)
        dirs[:] = sorted(name for name in dirs if not (base / name).is_symlink())
        for name in dirs:
            yield base / name
        for name in sorted(files):
            path = base / name
            if path.is_file() and not path.is_symlink():
                yield path


def _walk_files(root: Path) -> Iterator[Path]:
    return (path for path in _walk(root) if not path.is_dir())


def list_backups(backup_dir: Path) -> list[Path]:
    """The backups `backup_credentials` wrote into `backup_dir`, oldest first."""
    if not backup_dir.is_dir():
        return []
    return sorted(path for path in backup_dir.iterdir() if _BACKUP_NAME.match(path.name) and path.is_file())


def prune_backups(backup_dir: Path, keep: int = KEEP_BACKUPS) -> list[Path]:
    """Delete all but the newest `keep` backups; returns those deleted."""
    found = list_backups(backup_dir)
    doomed = found[: max(len(found) - keep, 0)]
    for path in doomed:
        path.unlink()
    return doomed


def resolve_archive(which: str, backup_dir: Path) -> Path:
    """`latest` (the newest backup in `backup_dir`) or a path to an archive."""
    if which == "latest":
        found = list_backups(backup_dir)
        if not found:
            raise CredentialsError(
                f"no backup in {backup_dir} (FONDATION_CLAUDE_BACKUP_DIR): name an archive, or log in again "
                "with `fondation claude login`"
            )
        return found[-1]
    path = Path(which)
    if not path.is_file():
        raise CredentialsError(f"no archive at {path}")
    return path


def inspect_archive(path: Path) -> ArchiveSummary:
    """Check every member of a credentials archive without extracting anything; refuse anything unsafe."""
    size = path.stat().st_size
    if size > MAX_ARCHIVE_BYTES:
        raise CredentialsError(f"{path} is {size} bytes, above the {MAX_ARCHIVE_BYTES} a credentials backup may be")
    files = content = 0
    seen: set[str] = set()
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            for count, member in enumerate(archive, start=1):
                if count > MAX_MEMBERS:
                    raise CredentialsError(f"{path} holds more than {MAX_MEMBERS} entries: not a credentials backup")
                name = _safe_name(path, member)
                if name in seen:
                    raise CredentialsError(f"{path} holds {member.name!r} twice: refused")
                seen.add(name)
                if member.isreg():
                    files += 1
                    content += member.size
                    if content > MAX_CONTENT_BYTES:
                        raise CredentialsError(f"{path} unpacks to more than {MAX_CONTENT_BYTES} bytes: refused")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise CredentialsError(f"{path} is not a readable tar.gz archive ({type(error).__name__})") from None
    return ArchiveSummary(path, files, content)


def _safe_name(path: Path, member: tarfile.TarInfo) -> str:
    """The member's relative name, or a refusal: only regular files and directories inside the folder."""
    if not (member.isreg() or member.isdir()):
        raise CredentialsError(
            f"{path} holds {member.name!r}, which is not a regular file or directory (a link or a device): refused"
        )
    pure = PurePosixPath(member.name)
    if pure.is_absolute() or member.name.startswith("/"):
        raise CredentialsError(f"{path} holds the absolute path {member.name!r}: refused")
    if ".." in pure.parts:
        raise CredentialsError(f"{path} holds {member.name!r}, which climbs out of the folder: refused")
    return pure.as_posix()


def restore_credentials(archive: Path, config_dir: Path) -> ArchiveSummary:
    """Replace the folder by the archive's content, all or nothing (see the module's docstring).

    When run as root over an existing folder, the restored files keep that folder's owner, so a worker
    running under its own user can still read them.
    """
    summary = inspect_archive(archive)
    target = Path(os.path.realpath(config_dir))  # a link to the folder stays a link: its target is replaced
    if os.path.ismount(target):
        raise CredentialsError(
            f"{target} is a mount point and cannot be swapped: restore on the host that holds the volume"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
    try:
        _extract(archive, staging)
        if credentials_status(staging).credential is None:
            raise CredentialsError(f"{archive} holds no Claude credentials ({CREDENTIALS_FILE}): nothing was changed")
        if target.exists() and os.geteuid() == 0:
            _chown_tree(staging, target.stat().st_uid, target.stat().st_gid)
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def _extract(archive: Path, into: Path) -> None:
    """Write the (already checked) members under `into`: directories 700, files 600, byte counts enforced."""
    with tarfile.open(archive, mode="r:gz") as members:
        for member in members:
            name = _safe_name(archive, member)
            destination = into / name
            if member.isdir():
                destination.mkdir(mode=0o700, parents=True, exist_ok=True)
                continue
            destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            source = members.extractfile(member)
            assert source is not None  # a regular file always has content to read
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            with source, os.fdopen(os.open(destination, flags, 0o600), "wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
            os.utime(destination, (member.mtime, member.mtime))  # "last modified" stays the login's time
    into.chmod(0o700)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for path in _walk(root):
        os.chown(path, uid, gid)


def _swap(staging: Path, target: Path) -> None:
    """Put `staging` where `target` is by two renames in one directory; the old folder is deleted after."""
    if not target.exists():
        staging.rename(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    old.rmdir()
    target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        old.rename(target)  # put the old folder back rather than leave none
        raise
    shutil.rmtree(old, ignore_errors=True)


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def revoke_credentials(config_dir: Path) -> int:
    """Wipe every file of the credentials folder (the folder itself stays); returns how many were removed.

    The Claude provider is not ready afterwards: jobs that need it fail with kind `auth` until
    someone logs in again or restores a backup.
    """
    if not config_dir.is_dir():
        return 0
    removed = 0
    for entry in list(config_dir.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            removed += sum(1 for path in entry.rglob("*") if not path.is_dir())
            shutil.rmtree(entry)
        else:
            entry.unlink()
            removed += 1
    return removed

"""Fetching a repository with the system `git`, hardened for URLs typed by people we do not know.

Why each precaution:

- no shell, and `--` before every URL or path: a source can never be read as an option or a command;
- a protocol allow-list (`protocol.allow=never`, then https, http, ssh and git; file only for local
  sources): `ext::` would run a command, and a plain path would read the worker's own repositories;
- a minimal environment (PATH, a private empty HOME, LANG=C), no system or global git config, no
  credential helper and no terminal prompt: the worker's credentials, helpers and settings never act for a
  stranger's URL, and git fails at once instead of waiting for a password nobody will type. Over ssh,
  `BatchMode=yes` does the same; ssh reads `~/.ssh` from the account's home in the password database, not
  from HOME, so the operator's keys and known_hosts still apply;
- submodules, LFS content and hooks are off: other repositories, unbounded downloads, and code;
- each git process leads its own process group, so a timeout kills git *and* its remote helper or ssh;
- a token reaches git only through `_ASKPASS` (see there), and every message built from git's stderr is
  masked, the token itself included.

A clone is `git init` + `git fetch --depth 1 URL REF` + `git checkout --detach`, not `git clone`: one
path serves a branch, a tag and a commit SHA alike (`git clone --branch` refuses a SHA), and no remote URL
is written into `.git/config`. When a server refuses a commit it does not advertise (protocol v0), or the
ref is an abbreviated SHA, every branch and tag is fetched and the ref resolved locally. Before checkout,
the commit's tree is sized (`git ls-tree`): like an archive, a small pack can unpack into gigabytes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from fondation.domain.errors import SourceError
from fondation.domain.jobs import ErrorKind
from fondation.domain.secrets import MASK, mask_secrets
from fondation.sources.limits import Limits

#: The user name a token is presented with; GitHub and most forges ignore it when the password is a token.
TOKEN_USERNAME = "x-access-token"

# Answers git's two prompts for the one origin the token was meant for, and nothing else (a redirect to
# another host gets no answer). The token comes from the environment of the git process that runs this
# script, so it is never written to disk, nor put in an argv or a URL.
_ASKPASS = f"""#!/bin/sh
case "$1" in
"Username for '$FONDATION_ASKPASS_ORIGIN': ") printf '%s\\n' {TOKEN_USERNAME} ;;
"Password for '$FONDATION_ASKPASS_LOGIN': ") printf '%s\\n' "$FONDATION_ASKPASS_TOKEN" ;;
*) exit 1 ;;
esac
"""

_CONFIG = {
    "protocol.allow": "never",
    "protocol.https.allow": "always",
    "protocol.http.allow": "always",
    "protocol.ssh.allow": "always",
    "protocol.git.allow": "always",
    "credential.helper": "",
    "core.hooksPath": os.devnull,
    "core.fsmonitor": "false",
    "submodule.recurse": "false",
    "fetch.recurseSubmodules": "false",
    "gc.auto": "0",
    "advice.detachedHead": "false",
    "init.defaultBranch": "main",
}

#: What could be a commit id, full or abbreviated: worth a full fetch when a shallow one finds no such ref.
_COMMIT_ID = re.compile(r"[0-9a-fA-F]{4,64}")
#: The server has no such ref, or will not send an object it does not advertise.
_REF_REFUSED = ("couldn't find remote ref", "not our ref", "unadvertised object")
_NOT_FOUND_HINT = "check the URL, and for a private repository the token (FONDATION_GIT_TOKEN)"

# (kind, what git says, what we say): the first cause whose marker appears in stderr wins.
_CAUSES: tuple[tuple[ErrorKind, tuple[str, ...], str], ...] = (
    (ErrorKind.RESOURCE, ("no space left on device", "disk quota exceeded"), "no space left on device fetching {}"),
    (
        ErrorKind.AUTH,
        (
            "authentication failed",
            "could not read username",
            "could not read password",
            "terminal prompts disabled",
            "returned error: 401",
            "returned error: 403",
            "permission denied (publickey",
            "host key verification failed",
        ),
        "authentication failed for {}: ",
    ),
    (
        ErrorKind.PERMANENT,
        (
            "repository not found",
            "not found",
            "does not appear to be a git repository",
            "returned error: 404",
            "repository not exported",
            "no such repository",
        ),
        f"repository {{}} not found or not accessible: {_NOT_FOUND_HINT}",
    ),
    (ErrorKind.PERMANENT, ("transport '",), "git refuses the transport of {} (allowed: https, http, ssh, git)"),
    (
        ErrorKind.TRANSIENT,
        (
            "could not resolve host",
            "connection refused",
            "connection reset",
            "timed out",
            "remote end hung up",
            "early eof",
            "rpc failed",
            "network is unreachable",
            "no route to host",
            "failed to connect",
            "returned error: 5",
        ),
        "network error fetching {}",
    ),
)


@dataclass(frozen=True, slots=True)
class Remote:
    """What to fetch and how: the URL git is given, how messages name it, the token if it may go there."""

    url: str
    shown: str
    token: str | None = field(default=None, repr=False)
    allow_file: bool = False


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a fetch checked out: the commit SHA, and the remote's default branch when it says."""

    commit: str
    default_branch: str | None


def fetch(remote: Remote, dest: Path, *, ref: str | None, work_dir: Path, timeout: float, limits: Limits) -> Fetched:
    """Check out `ref` (the remote's HEAD when None) of `remote` into the empty directory `dest`, shallowly.

    `timeout` bounds the whole sequence of git commands; the private HOME and askpass script live in
    `work_dir` only while they run. Raises `SourceError` only.
    """
    with _private_dir(work_dir) as private:
        git = _Git(remote, private, timeout)
        listing = git.check("ls-remote", "--symref", "--", remote.url, "HEAD")
        git.check("init", "--quiet", "--template=", "--", str(dest))
        commit = _fetch_commit(git, dest, ref)
        _check_tree(git, dest, commit, limits)
        git.check("checkout", "--quiet", "--detach", commit, cwd=dest)
        return Fetched(commit, _default_branch(listing))


def describe_work_tree(path: Path, *, work_dir: Path, timeout: float) -> tuple[str | None, str | None]:
    """The commit and branch checked out in the local work tree `path`, each None when git cannot tell.

    Only reading commands run there, with optional locks off, so the directory is not modified.
    """
    with _private_dir(work_dir) as private:
        git = _Git(Remote(str(path), str(path), allow_file=True), private, timeout)
        commit = git.run("rev-parse", "--verify", "--quiet", "HEAD", cwd=path)
        branch = git.run("symbolic-ref", "--quiet", "--short", "HEAD", cwd=path)
    return (commit.stdout.strip() or None, branch.stdout.strip() or None)


def _fetch_commit(git: _Git, dest: Path, ref: str | None) -> str:
    """Fetch `ref` with depth 1 and return its commit; fall back to a full fetch for a refused commit id."""
    shallow = git.run("fetch", "--quiet", "--depth=1", "--no-tags", "--", git.remote.url, ref or "HEAD", cwd=dest)
    if shallow.returncode == 0:
        return _resolve(git, dest, "FETCH_HEAD", ref)
    if not any(marker in shallow.stderr for marker in _REF_REFUSED):
        raise git.failure(shallow.stderr)
    if ref is None:
        raise SourceError(ErrorKind.PERMANENT, f"repository {git.remote.shown} is empty (it has no commits)")
    if not _COMMIT_ID.fullmatch(ref):
        raise _unknown_ref(ref, git.remote.shown)
    git.check(
        "fetch",
        "--quiet",
        "--no-tags",
        "--",
        git.remote.url,
        "+refs/heads/*:refs/remotes/origin/*",
        "+refs/tags/*:refs/tags/*",
        cwd=dest,
    )
    return _resolve(git, dest, ref, ref)


def _resolve(git: _Git, dest: Path, revision: str, ref: str | None) -> str:
    result = git.run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}", cwd=dest)
    if result.returncode != 0:
        raise _unknown_ref(ref or "HEAD", git.remote.shown)
    return result.stdout.strip()


def _unknown_ref(ref: str, shown: str) -> SourceError:
    return SourceError(ErrorKind.PERMANENT, f"branch, tag or commit {ref!r} not found in {shown}")


def _check_tree(git: _Git, dest: Path, commit: str, limits: Limits) -> None:
    """Refuse a commit whose files would exceed the limits, before any of them is written."""
    size = files = 0
    for entry in git.check("ls-tree", "-r", "-l", "-z", "--full-tree", commit, cwd=dest).split("\0"):
        mode_type_id_size = entry.partition("\t")[0].split()
        if len(mode_type_id_size) == 4 and mode_type_id_size[1] == "blob":
            files += 1
            size += int(mode_type_id_size[3])
    limits.check("repository", size, files)


def _default_branch(listing: str) -> str | None:
    """`main` from `ref: refs/heads/main<TAB>HEAD` in `ls-remote --symref` output; None when not advertised."""
    for line in listing.splitlines():
        target, _, name = line.partition("\t")
        if name == "HEAD" and target.startswith("ref: refs/heads/"):
            return target.removeprefix("ref: refs/heads/")
    return None


@contextlib.contextmanager
def _private_dir(work_dir: Path) -> Iterator[Path]:
    """A directory only this user can read (mode 0700), holding git's empty HOME and the askpass script."""
    private = Path(tempfile.mkdtemp(prefix=".git-private-", dir=work_dir))
    try:
        (private / "home").mkdir(mode=0o700)
        askpass = private / "askpass"
        askpass.write_text(_ASKPASS)
        askpass.chmod(0o700)
        yield private
    finally:
        shutil.rmtree(private, ignore_errors=True)


class _Git:
    """Runs the git commands of one fetch: one environment, one deadline, one way of reporting failure."""

    def __init__(self, remote: Remote, private: Path, timeout: float) -> None:
        self.remote = remote
        self._timeout = timeout
        self._deadline = time.monotonic() + timeout
        self._env = _environment(private, remote)
        config = {**_CONFIG, "protocol.file.allow": "always"} if remote.allow_file else _CONFIG
        self._config = [arg for key, value in config.items() for arg in ("-c", f"{key}={value}")]

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run `git ARGS` whatever its exit status; past the deadline, kill its process group and raise."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out()
        try:
            process = subprocess.Popen(
                ["git", *self._config, *args],
                cwd=cwd,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
        except OSError as error:
            raise SourceError(ErrorKind.TRANSIENT, f"cannot run git on this worker: {error.strerror}") from None
        try:
            stdout, stderr = process.communicate(timeout=remaining)
        except BaseException as error:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            if isinstance(error, subprocess.TimeoutExpired):
                raise self._timed_out() from None
            raise
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def check(self, *args: str, cwd: Path | None = None) -> str:
        """Run `git ARGS` and return its output, or raise the classified failure."""
        result = self.run(*args, cwd=cwd)
        if result.returncode != 0:
            raise self.failure(result.stderr)
        return result.stdout

    def failure(self, stderr: str) -> SourceError:
        """The error a person can act on, from git's stderr; unrecognised failures are retried (`transient`).

        The line of stderr that decided the cause is appended, masked: it says what the server answered.
        """
        lowered = stderr.lower()
        kind, summary, marker = next(
            ((kind, text, m) for kind, markers, text in _CAUSES for m in markers if m in lowered),
            (ErrorKind.TRANSIENT, "git failed fetching {}", None),
        )
        message = summary.format(self.remote.shown)
        if kind is ErrorKind.AUTH:
            message += self._auth_hint()
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        if marker is not None:
            lines = [line for line in lines if marker in line.lower()]
        else:
            lines = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines
        return SourceError(kind, f"{message} (git: {self._masked(lines[-1])})" if lines else message)

    def _auth_hint(self) -> str:
        if self.remote.token is not None:
            return "the token was refused (check FONDATION_GIT_TOKEN and its access to this repository)"
        if self.remote.url.startswith(("https://", "http://")):
            return "a private repository needs FONDATION_GIT_TOKEN, sent only to FONDATION_GIT_TOKEN_HOSTS"
        return "check the worker's ssh key and known_hosts"

    def _masked(self, line: str) -> str:
        """`line` without its `fatal:` prefix, the token (whole, first) and anything secret-shaped masked."""
        if self.remote.token:
            line = line.replace(self.remote.token, MASK)
        return re.sub(r"^(?:fatal|error): ", "", mask_secrets(line))[:200]

    def _timed_out(self) -> SourceError:
        return SourceError(ErrorKind.TRANSIENT, f"clone timed out after {self._timeout:g} s ({self.remote.shown})")


def _environment(private: Path, remote: Remote) -> dict[str, str]:
    """The whole environment of a git process: nothing of the worker's own but PATH."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(private / "home"),
        "LANG": "C",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
    }
    if remote.token is not None:
        parts = urlsplit(remote.url)
        env |= {
            "GIT_ASKPASS": str(private / "askpass"),
            "FONDATION_ASKPASS_ORIGIN": f"{parts.scheme}://{parts.netloc}",
            "FONDATION_ASKPASS_LOGIN": f"{parts.scheme}://{TOKEN_USERNAME}@{parts.netloc}",
            "FONDATION_ASKPASS_TOKEN": remote.token,
        }
    return env

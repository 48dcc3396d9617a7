"""Source acquisition: turn a parsed source (and an optional ref) into a directory of files to analyse.

`acquire` is the one entry point a worker calls. It decides, per kind of source, how the files are
obtained (git clone, archive extraction, a local directory used in place), which credentials may go with
the request, and whether the result is within the size limits. Whatever goes wrong comes out as a
`SourceError` whose kind decides between a retry and `dead` and whose message is one line a user can act
on, or as `InvalidSourceError` when the request itself is not acceptable here.

What the caller (the code map reader) must know about the checkout: its `root` may hold a `.git`
directory, to be skipped, and symbolic links, which must never be followed: a link in a repository may
point anywhere on the machine. For a local directory the root *is* the user's directory: read it, never
write to it.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from fondation.config import Settings
from fondation.domain.errors import InvalidSourceError, SourceError
from fondation.domain.jobs import ErrorKind
from fondation.domain.sources import VENDORED_DIRS, SourceKind, SourceSpec
from fondation.sources import archive, git, local
from fondation.sources.limits import MB, Limits, measure_tree
from fondation.sources.spec import parse_source, validate_ref


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How sources are fetched on this worker; `from_settings` builds it from the configuration.

    `token_hosts` lists where the token may be sent: `host[:port]` (as in the source URL, default port
    left out) means over https only; `http://host[:port]` allows plain http, for a trusted network only.
    Empty means `github_host` alone, as FONDATION_GIT_TOKEN_HOSTS does.
    """

    allow_local: bool = True
    github_host: str = "github.com"
    token: str | None = field(default=None, repr=False)
    token_hosts: tuple[str, ...] = ()
    clone_timeout_seconds: float = 300.0
    max_repo_mb: int = 1024
    max_files: int = 50_000

    @classmethod
    def from_settings(cls, settings: Settings) -> SourceOptions:
        """The options this worker's configuration sets."""
        secret = settings.git_token.get_secret_value() if settings.git_token else ""
        return cls(
            allow_local=settings.allow_local_sources,
            github_host=settings.github_host,
            token=secret or None,
            token_hosts=tuple(h.strip().lower().rstrip("/") for h in settings.git_token_hosts.split(",") if h.strip()),
            clone_timeout_seconds=settings.clone_timeout_seconds,
            max_repo_mb=settings.max_repo_mb,
            max_files=settings.max_files,
        )

    @property
    def limits(self) -> Limits:
        return Limits(self.max_repo_mb * MB, self.max_files)


def parse_configured(raw: str, settings: Settings) -> SourceSpec:
    """`parse_source` with this process's rules: whether local sources are allowed, the GitHub host."""
    return parse_source(raw, allow_local=settings.allow_local_sources, github_host=settings.github_host)


@dataclass(frozen=True, slots=True)
class Checkout:
    """The files of a source, ready to read.

    `commit` is the resolved commit SHA for git sources and for local directories that are git work trees;
    `default_branch` is the remote's default branch (a local work tree's current branch), None if unknown.
    """

    root: Path
    commit: str | None
    default_branch: str | None
    spec: SourceSpec
    ref: str | None


def acquire(spec: SourceSpec, *, ref: str | None, work_dir: Path, options: SourceOptions) -> Checkout:
    """Fetch `spec` at `ref` into a new directory under `work_dir` (or use a local directory in place).

    Raises `InvalidSourceError` for a request not acceptable here (unsafe ref, local source not allowed, a
    ref for an archive) and `SourceError` for everything else. A failed attempt leaves nothing behind.
    """
    ref = validate_ref(ref) if ref is not None else None
    if spec.kind in (SourceKind.LOCAL, SourceKind.ARCHIVE) and not options.allow_local:
        raise InvalidSourceError("local directories and archives are not accepted here: give a git URL or owner/repo")
    if spec.kind is SourceKind.ARCHIVE and ref is not None:
        raise InvalidSourceError(f"an archive has no branches or tags: drop the ref {ref!r}")
    path = Path(spec.canonical)
    timeout = options.clone_timeout_seconds
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        if spec.kind is SourceKind.LOCAL and ref is None:
            commit, branch = local.describe_directory(path, work_dir=work_dir, timeout=timeout)
            # Read in place, so measured as the code map reads it: a project's own .venv or node_modules is
            # not what a course is about, and must not make the project too big to teach.
            options.limits.check("directory", *measure_tree(path, skip=VENDORED_DIRS))
            return Checkout(path, commit, branch, spec, None)
        dest = Path(tempfile.mkdtemp(prefix="checkout-", dir=work_dir))
        try:
            checkout = _fetch_into(dest, spec, ref, work_dir, options)
            what = "archive" if spec.kind is SourceKind.ARCHIVE else "repository"
            options.limits.check(what, *measure_tree(checkout.root))
            return checkout
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    except OSError as error:
        raise _work_dir_error(error) from None


def _fetch_into(dest: Path, spec: SourceSpec, ref: str | None, work_dir: Path, options: SourceOptions) -> Checkout:
    """Extract or clone `spec` into `dest`; the limits are enforced on the way, from headers or the git tree."""
    if spec.kind is SourceKind.ARCHIVE:
        return Checkout(archive.extract(Path(spec.canonical), dest, options.limits), None, None, spec, None)
    if spec.kind is SourceKind.LOCAL:
        remote = local.repository_remote(Path(spec.canonical))
    else:
        hosts = options.token_hosts or (options.github_host,)
        token = options.token if _may_receive_token(spec.canonical, hosts) else None
        remote = git.Remote(spec.canonical, spec.canonical, token=token)
    fetched = git.fetch(
        remote, dest, ref=ref, work_dir=work_dir, timeout=options.clone_timeout_seconds, limits=options.limits
    )
    return Checkout(dest, fetched.commit, fetched.default_branch, spec, ref)


def _may_receive_token(url: str, token_hosts: tuple[str, ...]) -> bool:
    """Whether the token may go with a request to `url`: only over http(s), only to a listed host.

    A source is typed by whoever submits the job, so `https://evil.example/repo` must not get the token
    meant for GitHub; ssh and scp-like sources never get it (ssh authenticates with the worker's key).
    """
    parts = urlsplit(url)
    if parts.scheme == "https":
        return parts.netloc in token_hosts or f"https://{parts.netloc}" in token_hosts
    return parts.scheme == "http" and f"http://{parts.netloc}" in token_hosts


def _work_dir_error(error: OSError) -> SourceError:
    """An OS failure preparing the work directory: a full disk is `resource`, anything else is retried."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return SourceError(ErrorKind.RESOURCE, "no space left on device in the work directory")
    return SourceError(ErrorKind.TRANSIENT, f"cannot prepare the work directory: {error.strerror}")

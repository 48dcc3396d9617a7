"""Understand what a user submitted as a source, by its shape alone (no network, no git).

Accepted forms:

- git URLs: `https://…`, `http://…`, `ssh://…`, scp-like `[user@]host:path`, and `file://…` (local);
- GitHub shorthand `owner/repo`, meaning `https://<github_host>/owner/repo.git`;
- an existing local directory, or a local `.tar.gz` / `.tgz` / `.zip` archive.

Why canonical forms matter: the queue de-duplicates jobs by repository, and a repository is found by
`SourceSpec.canonical`. Two spellings of one repository must therefore give the *same* canonical
string, or the same course would be generated twice. The rules, applied consistently:

- scheme and host are lowercased, a default port (443, 80, 22) is dropped, trailing `/` are dropped;
- on the GitHub host (any transport) the path must be `owner/repo`; it is lowercased (GitHub ignores
  case there) and ends in `.git` whether or not the user wrote it. So `Owner/Repo`,
  `https://github.com/owner/repo`, `https://GitHub.com/owner/repo.git/` are one repository;
- on any other host the path is kept as written, `.git` included or not: a plain git server may serve
  `repo` and `repo.git` as two different repositories, so adding the suffix would not be safe;
- transports are never merged (`git@github.com:o/r.git` and `https://github.com/o/r.git` differ):
  each authenticates differently, so the one the user chose is the one a worker must use;
- a local directory or archive (or a `file://` URL) becomes its absolute path with symlinks resolved.

Ambiguity: a string that exists on disk (or starts with `/`, `./`, `../`, `~`) is local; otherwise an
`owner/repo` string is GitHub. When local sources are not allowed (a server accepting sources from
users), the disk is never consulted, so the server's own files neither change the meaning of a source
nor leak through error messages.

Whitespace is refused except inside a local path (a directory may well be called "My Project"), and
so is anything git could read as an option (a leading `-`) or as a command (`ext::` transports).
Refusals raise `InvalidSourceError` with a one-line message. A message never echoes the credentials,
query string or fragment of a URL: what the user pasted may hold a secret.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from fondation.domain.errors import InvalidSourceError
from fondation.domain.sources import SourceKind, SourceSpec

MAX_SOURCE_LENGTH = 2048
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
GIT_SCHEMES = ("https", "http", "ssh")
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22}
_LOCAL_PREFIXES = ("/", "./", "../", "~")

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_TRANSPORT_HELPER = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)::")
# "user:secret@" before any "/": credentials, whether the rest parses as scp-like or not.
_SCP_CREDENTIALS = re.compile(r"^[^/@]*:[^/@]*@")
# git's own rule: a ":" before any "/" makes `[user@]host:path` an scp-like ssh address.
_SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@/:\[\]]+):(?P<path>.*)$")
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?|\[[0-9a-f:.]+\])$")
_SCP_USER = re.compile(r"^[A-Za-z0-9._~+][A-Za-z0-9._~+-]*$")
_GITHUB_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
_GITHUB_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_SHORTHAND = re.compile(r"^[^/]+/[^/]+/?$")


def parse_source(
    raw: str, *, allow_local: bool = True, github_host: str = "github.com", cwd: Path | None = None
) -> SourceSpec:
    """Validate `raw` and return it in canonical form; raise `InvalidSourceError` if it is no source.

    `cwd` is where relative paths are resolved (the current directory by default).
    """
    text = _clean(raw, "source")
    github_host = github_host.lower()
    if _URL.match(text):
        return _parse_url(text, allow_local=allow_local, github_host=github_host, cwd=cwd)
    helper = _TRANSPORT_HELPER.match(text)
    if helper:
        raise InvalidSourceError(
            f"unsupported git transport '{helper.group(1)}::': use https://, http://, ssh://, "
            "git@host:path or owner/repo"
        )
    if _SCP_CREDENTIALS.match(text):
        raise _credentials_error(None)
    if text in (".", "..") or text.startswith(_LOCAL_PREFIXES) or (allow_local and _exists(text, cwd)):
        return _parse_local(text, allow_local=allow_local, cwd=cwd)
    _reject_whitespace(text, "source")
    scp = _SCP.match(text)
    if scp:
        return _parse_scp(scp.group("user"), scp.group("host"), scp.group("path"), github_host)
    if _SHORTHAND.match(text):
        owner, repo = _github_repository(text.rstrip("/"), shown=text)
        return _github_https(github_host, owner, repo)
    also = ", or an existing directory or archive" if allow_local else ""
    raise InvalidSourceError(f"{text!r} is not a git URL, a GitHub owner/repo{also}")


def validate_ref(raw: str) -> str:
    """Check a branch, tag or commit given with a source, so it cannot be read by git as an option.

    Only what makes a ref unsafe or certainly wrong is refused; git itself judges whether it exists.
    """
    ref = _clean(raw, "ref")
    _reject_whitespace(ref, "ref")
    if ".." in ref:
        raise InvalidSourceError(f"ref {ref!r} must not contain '..'")
    return ref


def _clean(raw: str, what: str) -> str:
    """Refuse what no source or ref may hold, and drop the surrounding blanks a paste often carries."""
    if len(raw) > MAX_SOURCE_LENGTH:
        raise InvalidSourceError(f"{what} is too long ({len(raw)} characters, at most {MAX_SOURCE_LENGTH})")
    for position, char in enumerate(raw, start=1):
        if unicodedata.category(char) in ("Cc", "Cf"):
            raise InvalidSourceError(f"{what} contains a control character (U+{ord(char):04X} at position {position})")
    text = raw.strip()
    if not text:
        raise InvalidSourceError(f"{what} is empty")
    if text.startswith("-"):
        raise InvalidSourceError(f"{what} must not start with '-' (git would read it as an option)")
    return text


def _reject_whitespace(text: str, what: str) -> None:
    for position, char in enumerate(text, start=1):
        if char.isspace():
            raise InvalidSourceError(f"{what} contains whitespace (at position {position})")


def _credentials_error(host: str | None) -> InvalidSourceError:
    where = f" for {host}" if host else ""
    return InvalidSourceError(
        f"source embeds credentials{where}: remove them from the source and configure a token setting "
        "instead (a source is stored and shown with the job)"
    )


# ---------------------------------------------------------------------- URLs


def _parse_url(text: str, *, allow_local: bool, github_host: str, cwd: Path | None) -> SourceSpec:
    _reject_whitespace(text, "source")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise InvalidSourceError(f"source URL has an invalid host or port ({scheme}://…)") from None
    if parts.password is not None or (parts.username is not None and scheme in ("https", "http")):
        raise _credentials_error(host)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidSourceError("a file:// URL must name a local path: file:///PATH")
        return _parse_local(unquote(parts.path), allow_local=allow_local, cwd=cwd)
    if scheme not in GIT_SCHEMES:
        raise InvalidSourceError(
            f"unsupported scheme '{scheme}://': use https://, http://, ssh://, git@host:path or owner/repo"
        )
    if parts.query or parts.fragment:
        raise InvalidSourceError(
            f"source URL for {host} must not have a query string or fragment (give a branch or tag as the ref)"
        )
    netloc = _netloc(host, port, scheme)
    path = parts.path.rstrip("/")
    if netloc == github_host:
        owner, repo = _github_repository(path.lstrip("/"), shown=f"{scheme}://{netloc}{path}")
        if scheme == "https":
            return _github_https(github_host, owner, repo)
        return SourceSpec(
            SourceKind.GIT,
            f"{scheme}://{_userinfo(parts)}{netloc}/{owner}/{repo}.git",
            repo,
            _github_web(github_host, owner, repo),
        )
    canonical = f"{scheme}://{_userinfo(parts)}{netloc}{path}"
    name = _repository_name(path, shown=canonical)
    web_url = canonical.removesuffix(".git") if scheme == "https" else None
    return SourceSpec(SourceKind.GIT, canonical, name, web_url)


def _netloc(host: str | None, port: int | None, scheme: str) -> str:
    """`host[:port]` in canonical form: lowercase, IPv6 bracketed, default port dropped."""
    if not host:
        raise InvalidSourceError(f"source URL has no host ({scheme}://…)")
    shown_host = f"[{host}]" if ":" in host else host
    if not _HOST.match(shown_host):
        raise InvalidSourceError(f"source URL has an invalid host ({scheme}://{shown_host}/…)")
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return shown_host
    return f"{shown_host}:{port}"


def _userinfo(parts: SplitResult) -> str:
    """The ssh login (`git@`), kept: it is part of how the repository is reached, not a secret."""
    if parts.username is None:
        return ""
    if not _SCP_USER.match(parts.username):
        raise InvalidSourceError(f"source URL has an invalid user name for {parts.hostname}")
    return f"{parts.username}@"


def _parse_scp(user: str | None, host: str, path: str, github_host: str) -> SourceSpec:
    host = host.lower()
    if not _HOST.match(host):
        raise InvalidSourceError(f"invalid host {host!r} in scp-like source (expected user@host:path)")
    if user is not None and not _SCP_USER.match(user):
        raise InvalidSourceError(f"invalid user name {user!r} in scp-like source (expected user@host:path)")
    login = f"{user}@" if user else ""
    path = path.rstrip("/")
    if host == github_host:
        owner, repo = _github_repository(path.lstrip("/"), shown=f"{login}{host}:{path}")
        return SourceSpec(
            SourceKind.GIT, f"{login}{host}:{owner}/{repo}.git", repo, _github_web(github_host, owner, repo)
        )
    canonical = f"{login}{host}:{path}"
    return SourceSpec(SourceKind.GIT, canonical, _repository_name(path, shown=canonical))


def _repository_name(path: str, *, shown: str) -> str:
    """The last path component without `.git`; refuses an empty path and `..` components."""
    components = [c for c in path.split("/") if c]
    if not components:
        raise InvalidSourceError(f"source {shown!r} has no repository path")
    if ".." in components:
        raise InvalidSourceError(f"source {shown!r} must not contain '..' in its path")
    name = components[-1].removesuffix(".git")
    if not name:
        raise InvalidSourceError(f"source {shown!r} has no repository name")
    return name


# ---------------------------------------------------------------------- GitHub


def _github_repository(path: str, *, shown: str) -> tuple[str, str]:
    """`owner/repo[.git]` → (owner, repo), lowercased; anything else on the GitHub host is refused."""
    owner, _, repo = path.partition("/")
    repo = repo.removesuffix(".git")
    if "/" in repo or not owner or not repo:
        raise InvalidSourceError(f"{shown!r} is not a GitHub repository: expected OWNER/REPO")
    if repo in (".", "..") or owner in (".", ".."):
        raise InvalidSourceError(f"invalid GitHub repository {shown!r}: '.' and '..' are not names")
    if not _GITHUB_OWNER.match(owner) or not _GITHUB_REPO.match(repo):
        raise InvalidSourceError(
            f"invalid GitHub repository {shown!r}: the owner is 1-39 letters, digits or '-', "
            "the repository 1-100 letters, digits, '.', '_' or '-'"
        )
    return owner.lower(), repo.lower()


def _github_https(github_host: str, owner: str, repo: str) -> SourceSpec:
    return SourceSpec(
        SourceKind.GITHUB,
        f"https://{github_host}/{owner}/{repo}.git",
        repo,
        _github_web(github_host, owner, repo),
    )


def _github_web(github_host: str, owner: str, repo: str) -> str:
    return f"https://{github_host}/{owner}/{repo}"


# ---------------------------------------------------------------------- local


def _exists(text: str, cwd: Path | None) -> bool:
    try:
        return ((cwd or Path.cwd()) / text).exists()
    except OSError:
        return False


def _parse_local(text: str, *, allow_local: bool, cwd: Path | None) -> SourceSpec:
    if not allow_local:
        raise InvalidSourceError("local directories and archives are not accepted here: give a git URL or owner/repo")
    try:
        expanded = Path(text).expanduser()
    except RuntimeError:  # `~user` for an unknown user
        raise InvalidSourceError(f"cannot expand the home directory in {text!r}") from None
    try:
        path = ((cwd or Path.cwd()) / expanded).resolve()
        is_dir, is_file = path.is_dir(), path.is_file()
    except (OSError, RuntimeError) as error:  # permission denied, symlink loop
        raise InvalidSourceError(f"cannot read {text!r}: {error}") from None
    if is_dir:
        return SourceSpec(SourceKind.LOCAL, str(path), path.name or str(path))
    if not is_file:
        raise InvalidSourceError(f"no such directory or archive: {path}")
    suffix = next((s for s in ARCHIVE_SUFFIXES if path.name.lower().endswith(s)), None)
    if suffix is None or len(path.name) == len(suffix):
        raise InvalidSourceError(f"{path} is a file but not a supported archive ({', '.join(ARCHIVE_SUFFIXES)})")
    return SourceSpec(SourceKind.ARCHIVE, str(path), path.name[: -len(suffix)])

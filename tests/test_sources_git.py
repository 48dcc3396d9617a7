"""acquire() on git sources, against real servers: git daemon, smart HTTP with auth, a server that hangs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fondation.config import Settings
from fondation.domain.errors import InvalidSourceError, SourceError
from fondation.domain.jobs import ErrorKind
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.sources.acquire import Checkout, SourceOptions, acquire
from git_servers import BIG_REPO_BYTES, TOKEN, GitCalls, GitDaemon, HangingServer, Sample, SmartHttpServer, git

pytest_plugins = ["git_servers"]

NOT_FOUND_HINT = "check the URL, and for a private repository the token (FONDATION_GIT_TOKEN)"


def git_source(url: str) -> SourceSpec:
    """A git source as parse_source would give it (git:// is built directly: parse_source accepts only
    the transports users may submit, but acquire serves any allowed one)."""
    return SourceSpec(SourceKind.GIT, url, url.rsplit("/", 1)[-1].removesuffix(".git"))


def fetch(url: str, work_dir: Path, ref: str | None = None, **options: Any) -> Checkout:
    return acquire(git_source(url), ref=ref, work_dir=work_dir, options=SourceOptions(**options))


def refused(url: str, work_dir: Path, ref: str | None = None, **options: Any) -> SourceError:
    with pytest.raises(SourceError) as caught:
        fetch(url, work_dir, ref, **options)
    assert "\n" not in caught.value.message
    return caught.value


def test_default_branch_is_cloned_shallow_with_its_commit_recorded(
    git_daemon: GitDaemon, sample: Sample, tmp_path: Path
) -> None:
    checkout = fetch(git_daemon.url("public.git"), tmp_path)
    assert (checkout.commit, checkout.default_branch, checkout.ref) == (sample.main, "main", None)
    assert (checkout.root / "VERSION").read_text() == "main\n"
    assert (checkout.root / "docs" / "guide.md").is_file()
    assert checkout.root.parent == tmp_path
    assert git("rev-parse", "--is-shallow-repository", cwd=checkout.root) == "true"
    assert git("rev-list", "--count", "HEAD", cwd=checkout.root) == "1"
    assert git("rev-parse", "HEAD", cwd=checkout.root) == sample.main


@pytest.mark.parametrize(
    ("ref_of", "commit"),
    [
        (lambda sample: "v1.0", "first"),
        (lambda sample: "feature", "feature"),
        (lambda sample: "main", "main"),
        (lambda sample: sample.first, "first"),
        (lambda sample: sample.middle, "middle"),  # the tip of no ref
        (lambda sample: sample.middle[:10], "middle"),  # abbreviated: found by the full-fetch fallback
    ],
    ids=["annotated-tag", "branch", "default-branch", "commit-sha", "unreferenced-commit-sha", "short-sha"],
)
def test_a_branch_tag_or_commit_is_checked_out(
    git_daemon: GitDaemon, sample: Sample, tmp_path: Path, ref_of: Callable[[Sample], str], commit: str
) -> None:
    ref = ref_of(sample)
    checkout = fetch(git_daemon.url("public.git"), tmp_path, ref)
    assert (checkout.commit, checkout.ref, checkout.default_branch) == (getattr(sample, commit), ref, "main")
    assert (checkout.root / "VERSION").read_text() == f"{commit}\n"


def test_a_server_refusing_unadvertised_commits_gets_a_full_fetch(
    old_http_server: SmartHttpServer, sample: Sample, tmp_path: Path
) -> None:
    checkout = fetch(old_http_server.url("public.git"), tmp_path, sample.middle)
    assert checkout.commit == sample.middle
    assert (checkout.root / "VERSION").read_text() == "middle\n"
    assert git("rev-parse", "--is-shallow-repository", cwd=checkout.root) == "false"


@pytest.mark.parametrize("ref", ["no-such-branch", "deadbeef", "0" * 40])
def test_an_unknown_ref_is_permanent(git_daemon: GitDaemon, tmp_path: Path, ref: str) -> None:
    url = git_daemon.url("public.git")
    error = refused(url, tmp_path / "work", ref)
    assert error.kind is ErrorKind.PERMANENT
    assert error.message == f"branch, tag or commit {ref!r} not found in {url}"
    assert list((tmp_path / "work").iterdir()) == []  # the partial clone is gone


def test_a_missing_repository_is_permanent_with_a_hint(git_daemon: GitDaemon, tmp_path: Path) -> None:
    error = refused(git_daemon.url("missing.git"), tmp_path)
    assert error.kind is ErrorKind.PERMANENT
    assert f"repository {git_daemon.url('missing.git')} not found or not accessible: {NOT_FOUND_HINT}" in error.message


def test_an_empty_repository_is_permanent(git_daemon: GitDaemon, tmp_path: Path) -> None:
    error = refused(git_daemon.url("empty.git"), tmp_path)
    assert (error.kind, error.message) == (
        ErrorKind.PERMANENT,
        f"repository {git_daemon.url('empty.git')} is empty (it has no commits)",
    )


def test_a_ref_that_git_could_read_as_an_option_is_refused(git_calls: GitCalls, tmp_path: Path) -> None:
    with pytest.raises(InvalidSourceError, match="must not start with '-'"):
        fetch("https://example.org/a/b.git", tmp_path, "--upload-pack=touch /tmp/pwned")
    assert git_calls.read() == []


def test_local_paths_are_not_a_git_transport_unless_local_sources_are_allowed(sample: Sample, tmp_path: Path) -> None:
    error = refused(str(sample.served / "public.git"), tmp_path, allow_local=False)
    assert error.kind is ErrorKind.PERMANENT
    assert "git refuses the transport" in error.message
    assert "transport 'file' not allowed" in error.message


# ---------------------------------------------------------------------- credentials


@pytest.fixture
def token_options(http_server: SmartHttpServer) -> dict[str, Any]:
    """Options that allow the token to this (plain http, local) server."""
    return {"token": TOKEN, "token_hosts": (f"http://127.0.0.1:{http_server.port}",)}


def assert_token_nowhere(
    work_dir: Path, git_calls: GitCalls, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """The token is in no file under the work dir (.git/config included), no argv of git, no output or log."""
    assert git_calls.read(), "the logging git wrapper was not used"
    assert all(TOKEN not in line for line in git_calls.read())
    files = [path for path in work_dir.rglob("*") if path.is_file() and not path.is_symlink()]
    assert all(TOKEN.encode() not in path.read_bytes() for path in files)
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err + caplog.text


def test_a_private_repository_is_cloned_with_the_token(
    http_server: SmartHttpServer,
    token_options: dict[str, Any],
    sample: Sample,
    git_calls: GitCalls,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    checkout = fetch(http_server.url("private.git"), tmp_path, "feature", **token_options)
    assert checkout.commit == sample.feature
    assert checkout.default_branch == "main"
    assert http_server.authorizations  # the token did go where it was meant to
    config = (checkout.root / ".git" / "config").read_text()
    assert "url" not in config and "x-access-token" not in config
    assert not list(tmp_path.glob(".git-private-*"))  # the askpass script and HOME are gone
    assert_token_nowhere(tmp_path, git_calls, caplog, capsys)


def test_a_private_repository_without_a_token_is_an_auth_error(http_server: SmartHttpServer, tmp_path: Path) -> None:
    error = refused(http_server.url("private.git"), tmp_path)
    assert error.kind is ErrorKind.AUTH
    assert error.message.startswith(f"authentication failed for {http_server.url('private.git')}: ")
    assert "FONDATION_GIT_TOKEN" in error.message
    assert "terminal prompts disabled" in error.message  # git's own last line, appended
    assert http_server.authorizations == []


def test_a_wrong_token_is_an_auth_error_that_does_not_echo_it(
    http_server: SmartHttpServer,
    token_options: dict[str, Any],
    git_calls: GitCalls,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "ghp_WrongTokenValue0123456789abcdefghij"
    error = refused(http_server.url("private.git"), tmp_path, **{**token_options, "token": wrong})
    assert error.kind is ErrorKind.AUTH
    assert "the token was refused" in error.message
    assert wrong not in error.message and TOKEN not in error.message
    assert_token_nowhere(tmp_path, git_calls, caplog, capsys)


def test_a_missing_repository_with_a_token_is_permanent(
    http_server: SmartHttpServer,
    token_options: dict[str, Any],
    git_calls: GitCalls,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = refused(http_server.url("missing.git"), tmp_path, **token_options)
    assert error.kind is ErrorKind.PERMANENT
    assert NOT_FOUND_HINT in error.message
    assert TOKEN not in error.message
    assert_token_nowhere(tmp_path, git_calls, caplog, capsys)


def test_a_token_echoed_by_the_server_is_masked_even_when_it_looks_like_no_secret(
    http_server: SmartHttpServer, token_options: dict[str, Any], tmp_path: Path
) -> None:
    plain = "correct-horse-battery"  # no pattern of mask_secrets knows this shape
    error = refused(http_server.url("leaky.git"), tmp_path, **{**token_options, "token": plain})
    assert error.kind is ErrorKind.PERMANENT
    assert "your password is ****" in error.message
    assert plain not in error.message


@pytest.mark.parametrize(
    "token_hosts",
    [
        ("github.com",),  # another host
        ("127.0.0.1:{port}",),  # this host, but a bare host means https only
        ("http://127.0.0.1:1",),  # this host on another port
        (),  # the GitHub host alone
    ],
)
def test_the_token_is_never_sent_to_a_host_it_is_not_meant_for(
    http_server: SmartHttpServer,
    git_calls: GitCalls,
    tmp_path: Path,
    token_hosts: tuple[str, ...],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hosts = tuple(host.format(port=http_server.port) for host in token_hosts)
    error = refused(http_server.url("private.git"), tmp_path, token=TOKEN, token_hosts=hosts)
    assert error.kind is ErrorKind.AUTH
    assert http_server.authorizations == []
    assert_token_nowhere(tmp_path, git_calls, caplog, capsys)


def test_a_redirect_to_another_host_does_not_carry_the_token(
    redirecting_server: SmartHttpServer, http_server: SmartHttpServer, tmp_path: Path
) -> None:
    """git asks for credentials again for the new host; the askpass program answers only the allowed one."""
    allowed = (f"http://127.0.0.1:{redirecting_server.port}",)
    error = refused(redirecting_server.url("private.git"), tmp_path, token=TOKEN, token_hosts=allowed)
    assert error.kind is ErrorKind.AUTH
    assert f"could not read Username for 'http://localhost:{http_server.port}'" in error.message
    assert http_server.authorizations == []


def test_options_come_from_the_environment_and_keep_the_token_out_of_their_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FONDATION_GIT_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("FONDATION_GIT_TOKEN_HOSTS", " GHE.example.com , http://10.0.0.5:8080/ ")
    options = SourceOptions.from_settings(Settings())
    assert options.token == TOKEN
    assert options.token_hosts == ("ghe.example.com", "http://10.0.0.5:8080")
    assert TOKEN not in repr(options)
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.delenv("FONDATION_GIT_TOKEN_HOSTS")
    options = SourceOptions.from_settings(Settings())
    assert (options.token, options.token_hosts, options.github_host) == (None, (), "github.com")


# ---------------------------------------------------------------------- failures of the machine


def test_a_server_that_hangs_times_out_and_leaves_no_process(
    hanging_server: HangingServer, git_calls: GitCalls, tmp_path: Path
) -> None:
    started = time.monotonic()
    error = refused(f"http://127.0.0.1:{hanging_server.port}/repo.git", tmp_path, clone_timeout_seconds=2)
    assert time.monotonic() - started < 2 + 3
    assert error.kind is ErrorKind.TRANSIENT
    assert error.message.startswith("clone timed out after 2 s")
    assert git_calls.read()
    assert git_calls.live_processes() == []


def test_a_full_disk_is_a_resource_error(git_daemon: GitDaemon, tiny_disk: Path) -> None:
    error = refused(git_daemon.url("big.git"), tiny_disk / "work")
    assert error.kind is ErrorKind.RESOURCE
    assert error.message.startswith(f"no space left on device fetching {git_daemon.url('big.git')}")
    assert list((tiny_disk / "work").iterdir()) == []


def test_a_repository_over_the_size_limit_is_refused_with_figures(git_daemon: GitDaemon, tmp_path: Path) -> None:
    error = refused(git_daemon.url("big.git"), tmp_path, max_repo_mb=1)
    assert error.kind is ErrorKind.PERMANENT
    assert error.message == f"repository is {BIG_REPO_BYTES / 2**20:.1f} MB, limit 1.0 MB"
    assert list(tmp_path.iterdir()) == []


def test_a_repository_over_the_file_limit_is_refused_with_figures(git_daemon: GitDaemon, tmp_path: Path) -> None:
    error = refused(git_daemon.url("public.git"), tmp_path, max_files=3)
    assert error.kind is ErrorKind.PERMANENT
    assert error.message == "repository has 4 files, limit 3"

"""parse_source: every accepted shape gives one canonical form, every bad shape one precise refusal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fondation.domain.errors import InvalidSourceError
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.sources import parse_source, validate_ref

GITHUB_AB = SourceSpec(SourceKind.GITHUB, "https://github.com/a/b.git", "b", "https://github.com/a/b")


@pytest.mark.parametrize(
    "raw",
    [
        "a/b",
        "A/B",
        "a/b.git",
        "a/b/",
        "  a/b\u0020",
        "https://github.com/a/b",
        "https://github.com/a/b.git",
        "HTTPS://GitHub.COM/A/B.git/",
        "https://github.com:443/a/b",
    ],
)
def test_every_spelling_of_a_github_repository_is_one_canonical_source(raw: str) -> None:
    assert parse_source(raw, allow_local=False) == GITHUB_AB


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "https://gitlab.com/Group/Sub/Proj.git/",
            SourceSpec(
                SourceKind.GIT,
                "https://gitlab.com/Group/Sub/Proj.git",
                "Proj",
                "https://gitlab.com/Group/Sub/Proj",
            ),
        ),
        (
            "https://git.example.org:8443/proj",
            SourceSpec(
                SourceKind.GIT,
                "https://git.example.org:8443/proj",
                "proj",
                "https://git.example.org:8443/proj",
            ),
        ),
        ("http://git.example.org/x/y.git", SourceSpec(SourceKind.GIT, "http://git.example.org/x/y.git", "y")),
        (
            "ssh://git@Host.example:22/x/y.git",
            SourceSpec(SourceKind.GIT, "ssh://git@host.example/x/y.git", "y"),
        ),
        ("ssh://host.example:2222/x/y", SourceSpec(SourceKind.GIT, "ssh://host.example:2222/x/y", "y")),
        ("git@Host.example:x/y.git", SourceSpec(SourceKind.GIT, "git@host.example:x/y.git", "y")),
        ("host.example:y", SourceSpec(SourceKind.GIT, "host.example:y", "y")),
        (
            "https://[::1]:8443/x/y.git",
            SourceSpec(SourceKind.GIT, "https://[::1]:8443/x/y.git", "y", "https://[::1]:8443/x/y"),
        ),
    ],
)
def test_git_urls_are_canonicalised(raw: str, expected: SourceSpec) -> None:
    assert parse_source(raw, allow_local=False) == expected


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("git@github.com:A/B", "git@github.com:a/b.git"),
        ("git@github.com:a/b.git/", "git@github.com:a/b.git"),
        ("ssh://git@github.com/a/b", "ssh://git@github.com/a/b.git"),
        ("http://github.com/a/b", "http://github.com/a/b.git"),
    ],
)
def test_other_transports_to_github_keep_their_transport_but_normalise_the_path(raw: str, canonical: str) -> None:
    spec = parse_source(raw, allow_local=False)
    assert spec == SourceSpec(SourceKind.GIT, canonical, "b", "https://github.com/a/b")


def test_github_host_is_configurable() -> None:
    spec = parse_source("a/b", github_host="GHE.example.com")
    assert spec == SourceSpec(SourceKind.GITHUB, "https://ghe.example.com/a/b.git", "b", "https://ghe.example.com/a/b")
    assert parse_source("https://ghe.example.com/A/B", github_host="ghe.example.com") == spec


def test_a_local_directory_is_its_resolved_absolute_path(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "link").symlink_to(project)
    expected = SourceSpec(SourceKind.LOCAL, str(project.resolve()), "project")
    assert parse_source(str(project)) == expected
    assert parse_source("./project", cwd=tmp_path) == expected
    assert parse_source("link/", cwd=tmp_path) == expected
    assert parse_source(f"file://{project}") == expected
    assert parse_source("../project", cwd=project) == expected


def test_an_existing_path_wins_over_the_github_shorthand(tmp_path: Path) -> None:
    (tmp_path / "owner" / "repo").mkdir(parents=True)
    assert parse_source("owner/repo", cwd=tmp_path).kind is SourceKind.LOCAL
    assert parse_source("owner/repo", cwd=tmp_path, allow_local=False).kind is SourceKind.GITHUB


def test_a_directory_name_may_hold_spaces(tmp_path: Path) -> None:
    (tmp_path / "my project").mkdir()
    assert parse_source("./my project", cwd=tmp_path).name == "my project"


@pytest.mark.parametrize(("file_name", "name"), [("src.tar.gz", "src"), ("src.TGZ", "src"), ("v1.2.zip", "v1.2")])
def test_archives(tmp_path: Path, file_name: str, name: str) -> None:
    archive = tmp_path / file_name
    archive.write_bytes(b"")
    assert parse_source(str(archive)) == SourceSpec(SourceKind.ARCHIVE, str(archive), name)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "source is empty"),
        ("   ", "source is empty"),
        ("-uhttps://evil", "must not start with '-'"),
        (" --upload-pack=touch /tmp/x", "must not start with '-'"),
        ("a/b\n", "control character (U+000A"),
        ("a/\x00b", "control character (U+0000"),
        ("a/\u202eb", "control character (U+202E"),
        ("https://github.com/a/b\tc", "control character (U+0009"),
        ("own er/repo", "whitespace"),
        ("https://github.com/a b", "whitespace"),
        ("ftp://example.org/a/b", "unsupported scheme 'ftp://'"),
        ("git://example.org/a/b", "unsupported scheme 'git://'"),
        ("ext::sh -c touch% /tmp/pwned", "unsupported git transport 'ext::'"),
        ("fd::17", "unsupported git transport 'fd::'"),
        ("a/..", "'.' and '..'"),
        ("../nope", "no such directory or archive: /nope"),
        ("a/b$", "invalid GitHub repository"),
        ("-a/b", "must not start with '-'"),
        ("a_b/c", "invalid GitHub repository"),
        ("https://github.com/a/b/tree/main", "expected OWNER/REPO"),
        ("https://github.com/a", "expected OWNER/REPO"),
        ("https://example.org", "has no repository path"),
        ("https://example.org/a/../b", "must not contain '..'"),
        ("https://example.org/a/b?x=1", "query string or fragment"),
        ("https://example.org/a/b#main", "query string or fragment"),
        ("https://example.org:99999/a", "invalid host or port"),
        ("ssh://-oProxyCommand=x/a", "invalid host"),
        ("nothing", "is not a git URL, a GitHub owner/repo, or an existing directory or archive"),
        ("a/b/c", "is not a git URL"),
        ("x" * 3000, "too long"),
    ],
)
def test_bad_sources_are_refused_with_a_precise_message(raw: str, message: str) -> None:
    with pytest.raises(InvalidSourceError) as caught:
        parse_source(raw, cwd=Path("/nonexistent-base"))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_paths_and_non_archives(tmp_path: Path) -> None:
    with pytest.raises(InvalidSourceError, match=re.escape(f"no such directory or archive: {tmp_path}/gone")):
        parse_source("./gone", cwd=tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidSourceError, match=r"notes.txt is a file but not a supported archive \(.tar.gz"):
        parse_source(str(tmp_path / "notes.txt"))


@pytest.mark.parametrize("raw", ["/tmp", ".", "~", "./x", "../x", "file:///tmp"])
def test_local_sources_can_be_refused(raw: str) -> None:
    with pytest.raises(InvalidSourceError, match="local directories and archives are not accepted here"):
        parse_source(raw, allow_local=False)


@pytest.mark.parametrize(
    "raw",
    [
        "https://alice:ghp_TopSecret123@github.com/a/b",
        "https://ghp_TopSecret123@github.com/a/b.git",
        "http://alice:ghp_TopSecret123@example.org/a/b",
        "ssh://git:ghp_TopSecret123@example.org/a/b",
        "ftp://alice:ghp_TopSecret123@example.org/a/b",
        "alice:ghp_TopSecret123@example.org:a/b",
    ],
)
def test_credentials_are_refused_and_never_echoed(raw: str) -> None:
    with pytest.raises(InvalidSourceError) as caught:
        parse_source(raw)
    message = str(caught.value)
    assert "TopSecret" not in message
    assert "alice" not in message
    assert "credentials" in message or "unsupported scheme" in message
    assert "token" in message or "unsupported scheme" in message


def test_a_query_string_is_never_echoed() -> None:
    with pytest.raises(InvalidSourceError) as caught:
        parse_source("https://example.org/a/b?private_token=TopSecret")
    assert "TopSecret" not in str(caught.value)


def test_ssh_login_is_not_a_credential() -> None:
    assert parse_source("ssh://git@example.org/a/b").canonical == "ssh://git@example.org/a/b"


@pytest.mark.parametrize(("raw", "ref"), [("main", "main"), (" v1.2.0 ", "v1.2.0"), ("a1b2c3d", "a1b2c3d")])
def test_refs(raw: str, ref: str) -> None:
    assert validate_ref(raw) == ref


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "ref is empty"),
        ("--upload-pack=x", "must not start with '-'"),
        ("a b", "whitespace"),
        ("a..b", "'..'"),
    ],
)
def test_bad_refs(raw: str, message: str) -> None:
    with pytest.raises(InvalidSourceError, match=message):
        validate_ref(raw)

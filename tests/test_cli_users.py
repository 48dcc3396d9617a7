"""`fondation users`, the real console script: what each command prints, its exit codes, one-line errors,
and that the secrets it handles (passwords, GitHub tokens) never show, in its output or in the auth log.

Commands run with standard input under the test's control (a pipe, /dev/null, or a pseudo-terminal for the
hidden prompts), never the terminal pytest was started from. What they did is checked in-process with
`Accounts` on the same database: the printed API token authenticates, a printed login link logs in once.
"""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import time
from pathlib import Path

import pytest

from cli_harness import Run
from fake_github import FakeGitHub
from fondation.accounts import Accounts
from fondation.config import load_settings
from fondation.store import Database
from fondation.store.schema import auth_events
from worker_harness import FONDATION

pytest_plugins = ["fake_github"]

SECRET = "cli-users-test-secret-key"
PASSWORD = "a long enough password"
NEW_PASSWORD = "another long password"
PUBLIC_URL = "https://fondation.example.org"


class Fondation:
    """Runs `fondation ARGS` with a clean environment and a given stdin; keeps everything it printed."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.printed: list[str] = []

    def __call__(self, *args: str, stdin: str | None = None, **env: str) -> Run:
        """`stdin`: what standard input holds (a pipe); None: /dev/null, which is not a terminal."""
        done = subprocess.run(
            [str(FONDATION), *args],
            env={**self.env, **env},
            cwd=self.cwd,
            capture_output=True,
            encoding="utf-8",
            timeout=60,
            check=False,
            **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
        )
        self.printed += [done.stdout, done.stderr]
        return Run(done.returncode, done.stdout, done.stderr)

    def in_terminal(self, *args: str, answers: list[tuple[str, str]]) -> tuple[int, str]:
        """Run on a pseudo-terminal (stdin, stdout and stderr), typing each answer once its prompt is shown."""
        controller, terminal = pty.openpty()
        process = subprocess.Popen(
            [str(FONDATION), *args],
            env=self.env,
            cwd=self.cwd,
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            start_new_session=True,  # not pytest's terminal: getpass falls back to this stdin
        )
        os.close(terminal)
        output, seen, pending = b"", 0, list(answers)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if select.select([controller], [], [], 0.1)[0]:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # EIO: every process holding the terminal is gone
                    break
                output += chunk
            # The prompt's last character comes from getpass once echo is off: typing earlier would be flushed.
            if pending and (found := output.find(pending[0][0].encode(), seen)) >= 0:
                seen = found + len(pending[0][0])
                os.write(controller, pending.pop(0)[1].encode() + b"\n")
        os.close(controller)
        code = process.wait(timeout=10)
        text = output.decode()
        self.printed.append(text)
        return code, text

    def assert_never_printed(self, *secrets: str) -> None:
        for secret in secrets:
            assert not any(secret in text for text in self.printed), secret


@pytest.fixture
def fondation(tmp_path: Path, database_url: str, fake_github: FakeGitHub) -> Fondation:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LC_ALL": "C.UTF-8",
        "LOGNAME": "alice",
        "FONDATION_DATABASE_URL": database_url,
        "FONDATION_ENV_FILE": str(tmp_path / "absent.env"),
        "FONDATION_SECRET_KEY": SECRET,
        "FONDATION_PUBLIC_URL": PUBLIC_URL,
        **fake_github.env(),
    }
    return Fondation(env, tmp_path)


@pytest.fixture
def accounts(database: Database, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Accounts:
    """The same database and key in-process, to check what the commands did."""
    monkeypatch.setenv("FONDATION_ENV_FILE", str(tmp_path / "absent.env"))
    settings = load_settings(database_url=database.url, secret_key=SECRET, **fake_github.settings())
    return Accounts(database, settings)


def logged_events(database: Database) -> str:
    """Every column of every auth event, as one text to search."""
    found = database.read(lambda conn: [dict(row) for row in conn.execute(auth_events.select()).mappings()])
    return "\n".join(str(value) for row in found for value in row.values())


def test_add_list_and_passwd(fondation: Fondation, accounts: Accounts, database: Database) -> None:
    assert fondation("users", "list").ok().strip() == "no users yet: add one with `fondation users add NAME --admin`"
    assert fondation("users", "add", "root", "--admin", "--password-stdin", stdin=PASSWORD + "\n").ok() == (
        "admin root added\n"
    )
    assert fondation("users", "add", "bob", "--password-stdin", stdin=PASSWORD + "\n").ok() == "user bob added\n"
    assert fondation("users", "add", "carol", "--no-password").ok() == (
        "user carol added without a password: run `fondation users link carol` for a one-time login link\n"
    )

    listed = fondation("users", "list", "--json").json()
    assert [(u["name"], u["is_admin"], u["has_password"], u["has_github_token"]) for u in listed] == [
        ("bob", False, True, False),
        ("carol", False, False, False),
        ("root", True, True, False),
    ]
    assert set(listed[0]) == {
        "id",
        "name",
        "is_admin",
        "language",
        "has_password",
        "github_login",
        "has_github_token",
        "created_at",
    }
    table = fondation("users", "list").ok().splitlines()
    assert table[1].split() == ["NAME", "ADMIN", "PASSWORD", "GITHUB", "LOGIN", "GITHUB", "TOKEN", "CREATED"]
    assert table[3].split()[:5] == ["bob", "no", "yes", "no", listed[0]["created_at"][:10]]

    # The password typed is the one stored, its newline aside.
    assert accounts.authenticate("bob", PASSWORD, remote=None).name == "bob"
    session = accounts.start_session(accounts.user("bob"))
    assert fondation("users", "passwd", "bob", "--password-stdin", stdin=NEW_PASSWORD + "\r\n").ok() == (
        "password of bob changed; their sessions are ended\n"
    )
    assert accounts.session(session.cookie) is None
    assert accounts.authenticate("bob", NEW_PASSWORD, remote=None).name == "bob"

    fondation.assert_never_printed(PASSWORD, NEW_PASSWORD)
    assert PASSWORD not in logged_events(database) and NEW_PASSWORD not in logged_events(database)


@pytest.mark.backends("sqlite")
def test_add_and_passwd_refusals(fondation: Fondation) -> None:
    fondation("users", "add", "bob", "--no-password").ok()
    refusals = [
        (("add", "bob", "--password-stdin"), PASSWORD, 1, "error: user 'bob' exists already"),
        (("add", "dave"), None, 2, "error: standard input is not a terminal: give the password on one line of it"),
        (("add", "dave", "--password-stdin", "--no-password"), None, 2, "error: --password-stdin and --no-password"),
        (("add", "dave", "--password-stdin"), "short\n", 1, "error: the password must have at least 10 characters"),
        (("add", "dave", "--password-stdin"), "", 2, "error: no password on standard input"),
        (("add", "Dave Smith", "--no-password"), None, 1, "error: invalid user name 'Dave Smith'"),
        (("passwd", "nobody", "--password-stdin"), PASSWORD, 1, "error: no user named 'nobody'"),
        (("passwd", "bob"), None, 2, "error: standard input is not a terminal"),
    ]
    for args, stdin, code, message in refusals:
        run = fondation("users", *args, stdin=stdin)
        assert run.error(code).startswith(message), (args, run.stderr)
        assert run.stdout == ""
    assert [u["name"] for u in fondation("users", "list", "--json").json()] == ["bob"]
    fondation.assert_never_printed(PASSWORD)


@pytest.mark.backends("sqlite")
def test_hidden_prompts_on_a_terminal(fondation: Fondation, accounts: Accounts, fake_github: FakeGitHub) -> None:
    code, output = fondation.in_terminal(
        "users", "add", "alice", "--admin", answers=[("Password: ", PASSWORD), ("Repeat for confirmation: ", PASSWORD)]
    )
    assert code == 0, output
    assert "admin alice added" in output
    assert accounts.authenticate("alice", PASSWORD, remote=None).is_admin

    token = fake_github.add_user("alice-gh")
    code, output = fondation.in_terminal("users", "github-token", "alice", "--set", answers=[("GitHub token: ", token)])
    assert code == 0, output
    assert "GitHub token of alice stored (encrypted); GitHub says it belongs to alice-gh" in output
    fondation.assert_never_printed(PASSWORD, token)


@pytest.mark.backends("sqlite")
def test_api_tokens_revoke_and_login_links(fondation: Fondation, accounts: Accounts, database: Database) -> None:
    bob = accounts.add_user("bob", PASSWORD)
    carol = accounts.add_user("carol")

    note, token = fondation("users", "token", "bob", "--name", "ci").ok().splitlines()
    [info] = accounts.store.tokens(bob.id)
    assert note == (
        "API token for bob, shown this once: it cannot be shown again "
        f"(`fondation users revoke bob --token-id {info.id}` revokes it)"
    )
    assert token.startswith("fdn_") and info.name == "ci"
    assert accounts.api_user(token) == bob

    assert fondation("users", "revoke", "bob", "--token-id", "999").error(1) == (
        "error: bob has no live token with id 999"
    )
    session = accounts.start_session(bob)
    assert fondation("users", "revoke", "bob").ok() == "revoked 1 token of bob and ended 1 session\n"
    assert accounts.api_user(token) is None and accounts.session(session.cookie) is None

    note, second = fondation("users", "token", "bob").ok().splitlines()
    second_id = accounts.store.tokens(bob.id)[-1].id
    assert note.endswith(f"(`fondation users revoke bob --token-id {second_id}` revokes it)")
    kept = accounts.start_session(bob)
    assert fondation("users", "revoke", "bob", "--token-id", str(second_id)).ok() == (
        f"token {second_id} of bob revoked\n"
    )
    assert accounts.api_user(second) is None and accounts.session(kept.cookie) is not None  # sessions stay

    note, url = fondation("users", "link", "carol").ok().splitlines()
    assert note == "one-time login link for carol, valid once within 15 minutes:"
    prefix = f"{PUBLIC_URL}/login/link/"
    assert url.startswith(prefix)
    assert accounts.use_login_link(url.removeprefix(prefix), remote=None) == carol
    assert accounts.use_login_link(url.removeprefix(prefix), remote=None) is None

    assert fondation("users", "token", "nobody").error(1).startswith("error: no user named 'nobody'")
    assert token not in logged_events(database) and url not in logged_events(database)


@pytest.mark.backends("sqlite")
def test_github_token_commands(
    fondation: Fondation, accounts: Accounts, database: Database, fake_github: FakeGitHub
) -> None:
    token = fake_github.add_user("octocat")
    accounts.add_user("bob", PASSWORD)

    assert fondation("users", "github-token", "bob", "--set", "--token-stdin", stdin=token + "\n").ok() == (
        "GitHub token of bob stored (encrypted); GitHub says it belongs to octocat\n"
    )
    assert [r.headers["authorization"] for r in fake_github.requests_to("/api/user")] == [f"Bearer {token}"]
    assert fondation("users", "github-token", "bob", "--check").ok() == (
        "the GitHub token of bob works: GitHub says it belongs to octocat\n"
    )
    [listed] = fondation("users", "list", "--json").json()
    assert (listed["github_login"], listed["has_github_token"]) == ("octocat", True)
    assert fondation("users", "list").ok().splitlines()[3].split()[:5] == ["bob", "no", "yes", "octocat", "yes"]

    # Another key cannot read it: a configuration error, said in one line.
    assert "cannot be decrypted with FONDATION_SECRET_KEY" in fondation(
        "users", "github-token", "bob", "--check", FONDATION_SECRET_KEY="another key"
    ).error(2)

    del fake_github.tokens[token]  # revoked on GitHub
    assert fondation("users", "github-token", "bob", "--check").error(1) == (
        "error: the GitHub token of bob does not work: GitHub refused the token (401): it is wrong, expired or "
        "revoked; update it with `fondation users github-token bob --set`"
    )
    assert fondation("users", "github-token", "bob", "--set", "--token-stdin", stdin=token + "\n").error(1) == (
        "error: GitHub refused the token (401): it is wrong, expired or revoked; the token was not stored"
    )
    unchecked = "ghp_UncheckedToken0123456789abcdefghij"
    calls = len(fake_github.requests)
    assert fondation("users", "github-token", "bob", "--set", "--token-stdin", "--no-check", stdin=unchecked).ok() == (
        "GitHub token of bob stored (encrypted) without asking GitHub; test it with --check\n"
    )
    assert len(fake_github.requests) == calls
    assert accounts.github_token(accounts.user("bob").id) == unchecked

    with socket.socket() as probe:  # GitHub unreachable: said so, with no advice to replace the token
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    unreachable = fondation("users", "github-token", "bob", "--check", FONDATION_GITHUB_API_URL=closed).error(1)
    assert unreachable.startswith("error: the GitHub token of bob does not work: GitHub could not be reached")
    assert "--set" not in unreachable

    assert fondation("users", "github-token", "bob", "--clear").ok() == "GitHub token of bob removed\n"
    assert fondation("users", "github-token", "bob", "--clear").ok() == "bob had no GitHub token\n"
    assert fondation("users", "github-token", "bob", "--check").error(1) == (
        "error: user 'bob' has no GitHub token (set one with `fondation users github-token bob --set`)"
    )

    fondation.assert_never_printed(token, unchecked, PASSWORD)
    for secret in (token, unchecked):
        assert secret not in logged_events(database)


@pytest.mark.backends("sqlite")
def test_github_token_usage_errors(fondation: Fondation, fake_github: FakeGitHub) -> None:
    token = fake_github.add_user("octocat")
    fondation("users", "add", "bob", "--no-password").ok()
    usage = [
        (("bob",), None, "error: give exactly one of --set, --clear and --check"),
        (("bob", "--set", "--clear"), None, "error: give exactly one of --set, --clear and --check"),
        (("bob", "--check", "--no-check"), None, "error: --token-stdin and --no-check go with --set only"),
        (("bob", "--clear", "--token-stdin"), token, "error: --token-stdin and --no-check go with --set only"),
        (("bob", "--set"), None, "error: standard input is not a terminal: give the GitHub token on one line"),
        (("bob", "--set", "--token-stdin"), "\n", "error: no GitHub token on standard input"),
    ]
    for args, stdin, message in usage:
        assert fondation("users", "github-token", *args, stdin=stdin).error(2).startswith(message), args
    assert fondation("users", "github-token", "nobody", "--set", "--token-stdin", stdin=token).error(1) == (
        "error: no user named 'nobody' (see `fondation users list`)"
    )
    assert fake_github.requests == []  # nothing reached GitHub
    fondation.assert_never_printed(token)

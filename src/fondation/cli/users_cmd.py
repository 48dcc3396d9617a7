"""`fondation users`: the operator's side of accounts (add, list, passwords, API tokens, login links, GitHub tokens).

Secrets come in by a hidden prompt or one line of standard input, never as arguments (which `ps` and
shell histories show), and never go out again: the only ones printed are those just made for the
operator to hand over (an API token, a login link), once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from fondation.cli.common import EXIT_INTERRUPTED, JsonOption, open_queue
from fondation.cli.output import console, format_time, new_table, print_json, say
from fondation.config import load_settings
from fondation.domain.errors import ConfigError
from fondation.domain.jobs import ErrorKind
from fondation.domain.users import AccountError, check_user_name

if TYPE_CHECKING:
    from fondation.accounts import Accounts

users_app = typer.Typer(help="Add and list users; set passwords; issue API tokens and login links; GitHub tokens.")

UserName = Annotated[str, typer.Argument(metavar="NAME", help="The user's name.", show_default=False)]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from one line of standard input.")
]


@contextmanager
def open_accounts() -> Iterator[Accounts]:
    """Accounts on the configured database (migrated first if empty, refused if outdated)."""
    from fondation.accounts import Accounts  # lazily: argon2, cryptography and authlib cost start-up time

    settings = load_settings()
    with open_queue(settings) as queue:
        yield Accounts(queue.db, settings)


def check_secret_input(label: str, *, from_stdin: bool, stdin_flag: str) -> None:
    """Refuse at once, before the database is opened, a secret that could be neither read nor typed."""
    if not from_stdin and not sys.stdin.isatty():
        raise ConfigError(f"standard input is not a terminal: give the {label} on one line of it with {stdin_flag}")


def read_secret(label: str, *, from_stdin: bool, stdin_flag: str, confirm: bool = False) -> str:
    """A secret from one line of standard input, or typed at a hidden prompt (see `check_secret_input`)."""
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise ConfigError(f"no {label} on standard input ({stdin_flag} reads it from one line)")
        return value
    try:
        return str(typer.prompt(label[:1].upper() + label[1:], hide_input=True, confirmation_prompt=confirm, err=True))
    except typer.Abort:  # Ctrl-C or Ctrl-D at the prompt
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@users_app.command("add")
def add(
    name: UserName,
    admin: Annotated[bool, typer.Option("--admin", help="May see and manage everything, every user's too.")] = False,
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No password: the user logs in by a one-time link (`users link`).")
    ] = False,
) -> None:
    """Create a user; the password is asked at a hidden prompt unless --password-stdin or --no-password."""
    if password_stdin and no_password:
        raise ConfigError("--password-stdin and --no-password exclude each other")
    check_user_name(name)
    if not no_password:
        check_secret_input("password", from_stdin=password_stdin, stdin_flag="--password-stdin")
    with open_accounts() as accounts:
        if accounts.store.user_by_name(name) is not None:  # said before a password is typed for nothing
            raise AccountError(f"user {name!r} exists already")
        password = None
        if not no_password:
            password = read_secret("password", from_stdin=password_stdin, stdin_flag="--password-stdin", confirm=True)
        accounts.add_user(name, password, admin=admin)
    role = "admin" if admin else "user"
    if password is None:
        say(f"{role} {name} added without a password: run `fondation users link {name}` for a one-time login link")
    else:
        say(f"{role} {name} added")


@users_app.command("list")
def list_users(as_json: JsonOption = False) -> None:
    """List users: admin or not, whether a password and a GitHub token are set (never the secrets themselves)."""
    with open_accounts() as accounts:
        found = accounts.users()
    if as_json:
        print_json(found)
        return
    if not found:
        say("no users yet: add one with `fondation users add NAME --admin`")
        return
    table = new_table("NAME", "ADMIN", "PASSWORD", "GITHUB LOGIN", "GITHUB TOKEN", "CREATED")
    for user in found:
        table.add_row(
            user.name,
            "yes" if user.is_admin else "no",
            "yes" if user.has_password else "no",
            user.github_login or "",
            "yes" if user.has_github_token else "no",
            format_time(user.created_at),
        )
    console.print(table)


@users_app.command("passwd")
def passwd(name: UserName, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password; every session of theirs ends (their API tokens stay: see `users revoke`)."""
    check_secret_input("password", from_stdin=password_stdin, stdin_flag="--password-stdin")
    with open_accounts() as accounts:
        accounts.user(name)  # an unknown name is refused before the password is typed
        password = read_secret("password", from_stdin=password_stdin, stdin_flag="--password-stdin", confirm=True)
        accounts.set_password(name, password)
    say(f"password of {name} changed; their sessions are ended")


@users_app.command("token")
def token(
    name: UserName,
    label: Annotated[str | None, typer.Option("--name", metavar="LABEL", help="What the token is for.")] = None,
) -> None:
    """Issue an API bearer token for a user: printed this once, stored only as a hash."""
    with open_accounts() as accounts:
        user = accounts.user(name)
        before = {info.id for info in accounts.store.tokens(user.id)}
        value = accounts.issue_api_token(name, label)
        new = [info.id for info in accounts.store.tokens(user.id) if info.id not in before]
    revoke_it = f"fondation users revoke {name}" + (f" --token-id {new[0]}" if len(new) == 1 else "")
    say(f"API token for {name}, shown this once: it cannot be shown again (`{revoke_it}` revokes it)")
    typer.echo(value)


@users_app.command("revoke")
def revoke(
    name: UserName,
    token_id: Annotated[
        int | None, typer.Option("--token-id", metavar="ID", min=1, help="Only this token; sessions stay.")
    ] = None,
) -> None:
    """Revoke a user's API tokens and login links, and end every session of theirs (or revoke one token)."""
    with open_accounts() as accounts:
        user = accounts.user(name)
        revoked = accounts.revoke_tokens(name, token_id)
        if token_id is not None:
            if not revoked:
                raise AccountError(f"{name} has no live token with id {token_id}")
            say(f"token {token_id} of {name} revoked")
            return
        ended = accounts.store.delete_sessions(user_id=user.id)
    say(f"revoked {_plural(revoked, 'token')} of {name} and ended {_plural(ended, 'session')}")


@users_app.command("link")
def link(name: UserName) -> None:
    """Print a one-time login URL for a user (works once, for 15 minutes): how a user without a password logs in."""
    from fondation.accounts.service import LOGIN_LINK_LIFETIME

    with open_accounts() as accounts:
        value = accounts.login_link(accounts.user(name))
        url = f"{accounts.settings.effective_public_url}/login/link/{value}"
    minutes = int(LOGIN_LINK_LIFETIME.total_seconds() // 60)
    say(f"one-time login link for {name}, valid once within {minutes} minutes:")
    typer.echo(url)


@users_app.command("github-token")
def github_token(
    name: UserName,
    set_token: Annotated[bool, typer.Option("--set", help="Store a token (checked with GitHub first).")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the stored token.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Ask GitHub whom the stored token belongs to.")] = False,
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="With --set: read the token from one line of standard input.")
    ] = False,
    no_check: Annotated[bool, typer.Option("--no-check", help="With --set: store it without asking GitHub.")] = False,
) -> None:
    """Store (encrypted), remove or check the GitHub token a user's private repositories are read with."""
    if [set_token, clear, check].count(True) != 1:
        raise ConfigError("give exactly one of --set, --clear and --check")
    if (token_stdin or no_check) and not set_token:
        raise ConfigError("--token-stdin and --no-check go with --set only")
    if set_token:
        check_secret_input("GitHub token", from_stdin=token_stdin, stdin_flag="--token-stdin")
    with open_accounts() as accounts:
        if set_token:
            _set_github_token(accounts, name, from_stdin=token_stdin, check=not no_check)
        elif clear:
            had = accounts.clear_github_token(name)
            say(f"GitHub token of {name} removed" if had else f"{name} had no GitHub token")
        else:
            _check_github_token(accounts, name)


def _set_github_token(accounts: Accounts, name: str, *, from_stdin: bool, check: bool) -> None:
    from fondation.accounts.github import GitHubError

    accounts.user(name)  # an unknown name is refused before the token is typed
    value = read_secret("GitHub token", from_stdin=from_stdin, stdin_flag="--token-stdin")
    try:
        identity = accounts.set_github_token(name, value, check=check)
    except GitHubError as error:
        raise GitHubError(error.kind, f"{error.message}; the token was not stored") from None
    if identity is None:
        say(f"GitHub token of {name} stored (encrypted) without asking GitHub; test it with --check")
    else:
        say(f"GitHub token of {name} stored (encrypted); GitHub says it belongs to {identity.login}")


def _check_github_token(accounts: Accounts, name: str) -> None:
    from fondation.accounts.github import GitHubError

    try:
        identity = accounts.check_github_token(name)
    except GitHubError as error:
        hint = f"; update it with `fondation users github-token {name} --set`" if error.kind is ErrorKind.AUTH else ""
        raise GitHubError(error.kind, f"the GitHub token of {name} does not work: {error.message}{hint}") from None
    say(f"the GitHub token of {name} works: GitHub says it belongs to {identity.login}")

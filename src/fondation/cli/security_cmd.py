"""`fondation security lockdown|rotate-key`: the runbook's security breach procedure as two commands.

Secrets come in from the environment or one line of standard input, never as arguments (which `ps`
and shell histories show), and are never printed.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.text import Text

from fondation.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, JsonOption, cli_actor, open_queue
from fondation.cli.output import print_json, say
from fondation.cli.users_cmd import read_secret
from fondation.config import load_settings
from fondation.domain.errors import ConfigError, FondationError

security_app = typer.Typer(help="Security breach: lock everything down; rotate the secret key.")

_CONFIRM = (
    "Lock down now: pause the queue, end every session, revoke every API token and login link, "
    "wipe every stored GitHub token and the Claude credentials?"
)
_NEXT_STEPS = (
    "next: set a new FONDATION_SECRET_KEY and run `fondation security rotate-key`; log the Claude CLI in again; "
    "issue new tokens (`fondation users token NAME`); users store new GitHub tokens; then `fondation queue resume`"
)


def _confirmed(yes: bool) -> bool:
    """--yes, or a `y` typed at a terminal; without a terminal, --yes is required."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("standard input is not a terminal: confirm the lockdown with --yes")
    try:
        return typer.confirm(_CONFIRM, err=True)
    except typer.Abort:  # Ctrl-C or Ctrl-D at the prompt
        raise typer.Exit(EXIT_INTERRUPTED) from None


@security_app.command("lockdown")
def lockdown(
    yes: Annotated[bool, typer.Option("--yes", help="Do it without asking (required without a terminal).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Pause claiming, end every session, revoke every API token and login link, wipe stored GitHub tokens,
    revoke the Claude credentials; recorded in the audit log. Running jobs go on."""
    from fondation.ops import security  # the database stack loads only when a lockdown runs

    if not _confirmed(yes):
        typer.echo("lockdown not done: nothing was changed", err=True)
        raise typer.Exit(EXIT_FAILED)
    settings = load_settings()
    with open_queue(settings) as queue:
        results = security.lockdown(queue, claude_config_dir=settings.claude_config_dir, actor=cli_actor())
    failed = [result.name for result in results if not result.ok]
    if as_json:
        print_json({"ok": not failed, "steps": results})
    else:
        for result in results:
            if result.ok:
                say(Text("done   ", style="green"), f"{result.description}: {result.count}")
            else:
                say(Text("FAILED ", style="bold red"), f"{result.description}: {result.error}")
        say(_NEXT_STEPS)
    if failed:
        raise FondationError(f"lockdown incomplete: {', '.join(failed)} failed; fix the cause and run it again")


@security_app.command("rotate-key")
def rotate_key(
    old_key_stdin: Annotated[
        bool,
        typer.Option(
            "--old-key-stdin", help="Read the old key from one line of standard input (else FONDATION_OLD_SECRET_KEY)."
        ),
    ] = False,
) -> None:
    """Re-encrypt every stored secret (users' GitHub tokens) from the old key to FONDATION_SECRET_KEY, at once.

    Refused, with nothing changed, if a stored secret opens with neither key. Sessions signed with the
    old key end: users log in again.
    """
    from fondation.ops import security

    settings = load_settings()
    if settings.secret_key is None:
        raise ConfigError("FONDATION_SECRET_KEY is not set: set it to the new key (the same for every process)")
    if old_key_stdin:
        old_key = read_secret("old key", from_stdin=True, stdin_flag="--old-key-stdin")
    elif settings.old_secret_key is not None:
        old_key = settings.old_secret_key.get_secret_value()
    else:
        raise ConfigError(
            "no old key: give it on one line of standard input with --old-key-stdin, or set FONDATION_OLD_SECRET_KEY"
        )
    with open_queue(settings) as queue:
        count = security.rotate_key(
            queue, new_key=settings.secret_key.get_secret_value(), old_key=old_key, actor=cli_actor()
        )
    say(
        f"re-encrypted {count} stored secret{'' if count == 1 else 's'} under the new FONDATION_SECRET_KEY; "
        "give every web process and worker that key, and remove FONDATION_OLD_SECRET_KEY"
    )

"""`fondation claude`: the Claude CLI's credentials folder (runbook incident 4: authentication failed).

Log in, see the state, back up, restore, revoke. The folder is FONDATION_CLAUDE_CONFIG_DIR (the CLI's
CLAUDE_CONFIG_DIR on every call a worker makes), backups go to FONDATION_CLAUDE_BACKUP_DIR. No command
prints a credential: only its kind, its expiry and the files that hold it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fondation.cli.common import EXIT_FAILED, EXIT_OK, JsonOption
from fondation.cli.output import format_time, print_fields, print_json, say
from fondation.config import Settings, load_settings
from fondation.domain.errors import FondationError

if TYPE_CHECKING:
    from fondation.ops.claude_credentials import CredentialsStatus

claude_app = typer.Typer(help="The Claude CLI's credentials: log in, status, back up, restore, revoke.")

_AGAIN = "`fondation claude login` or `fondation claude restore latest`"


@claude_app.command("login")
def login(
    console_billing: Annotated[
        bool, typer.Option("--console", help="Log in with an Anthropic Console account (API billing).")
    ] = False,
    setup_token: Annotated[
        bool,
        typer.Option(
            "--setup-token",
            help="Make a long-lived token instead (`claude setup-token`), for FONDATION_CLAUDE_OAUTH_TOKEN.",
        ),
    ] = False,
) -> None:
    """Run the Claude CLI's interactive login with its credentials in FONDATION_CLAUDE_CONFIG_DIR (made mode 700)."""
    from fondation.ops import claude_credentials as creds  # lazily: the CLI starts without it

    settings = load_settings()
    folder = settings.claude_config_dir
    code = creds.run_login(settings.claude_command, folder, setup_token=setup_token, console=console_billing)
    what = "claude setup-token" if setup_token else "claude auth login"
    if code != 0:
        raise FondationError(f"`{what}` exited with status {code}: nothing was stored, log in again")
    if setup_token:
        say(
            "set FONDATION_CLAUDE_OAUTH_TOKEN to the token printed above (in the workers' environment or .env, "
            "never on a command line), then restart the workers"
        )
        return
    status = creds.credentials_status(folder)
    if status.credential is None:
        raise FondationError(f"`{what}` ended but no credentials are in {folder}: log in again")
    say(f"logged in: {_credential_text(status)} in {folder}; keep a copy with `fondation claude backup`")


@claude_app.command("status")
def status(
    as_json: JsonOption = False,
    check: Annotated[
        bool, typer.Option("--check", help="Also make one tiny real call through the CLI (costs a few tokens).")
    ] = False,
) -> None:
    """Show the credentials folder: files, which credential (never its value), its expiry, the backups.

    Exit codes: 0 a credential is there (and, with --check, accepted); 1 none, or the call was refused.
    """
    from fondation.ops import claude_credentials as creds

    settings = load_settings()
    found = creds.credentials_status(settings.claude_config_dir)
    environment = _environment_credential(settings)
    backups = creds.list_backups(settings.claude_backup_dir)
    verdict = None
    if check:
        from fondation.ops.doctor import check_provider

        verdict = check_provider(settings, "claude-cli")
    ready = (found.credential is not None or environment is not None) and (verdict is None or verdict.status != "fail")
    if as_json:
        view: dict[str, Any] = {
            **_plain(found),
            "environment_credential": environment,
            "backup_dir": settings.claude_backup_dir,
            "backups": len(backups),
            "latest_backup": backups[-1] if backups else None,
            "check": verdict,
            "ready": ready,
        }
        print_json(view)
    else:
        _print_status(settings, found, environment, backups)
        if verdict is not None:
            fix = f" — {verdict.fix}" if verdict.fix else ""
            print_fields([("check", f"{verdict.status.value}: {verdict.detail}{fix}")])
    raise typer.Exit(EXIT_OK if ready else EXIT_FAILED)


def _plain(found: CredentialsStatus) -> dict[str, Any]:
    return {
        "folder": found.folder,
        "exists": found.exists,
        "mode": found.mode,
        "files": found.files,
        "credential": found.credential,
        "expires_at": found.expires_at,
        "last_modified": found.last_modified,
        "problem": found.problem,
    }


def _print_status(settings: Settings, found: CredentialsStatus, environment: str | None, backups: list[Path]) -> None:
    if not found.exists:
        folder = f"{found.folder} (does not exist)"
    else:
        private = "" if found.mode == "0700" else f": others may read it, run `chmod 700 {found.folder}`"
        folder = f"{found.folder} (mode {found.mode}{private}; {_plural(found.files, 'file')})"
    if found.credential is not None:
        credential = _credential_text(found)
    else:
        credential = f"none ({found.problem or 'no login stored'}): {_AGAIN}"
    rows = [("folder", folder), ("credential", credential)]
    if environment:
        rows.append(("environment", f"{environment} is set: the CLI uses it before the folder"))
    rows.append(("last modified", format_time(found.last_modified) or "-"))
    latest = f", latest {backups[-1].name}" if backups else ""
    rows.append(("backups", f"{len(backups)} in {settings.claude_backup_dir}{latest}"))
    print_fields(rows)


def _credential_text(found: CredentialsStatus) -> str:
    kind = "a claude.ai login" if found.credential == "claude.ai" else "an API key"
    expiry = f" (access token until {format_time(found.expires_at)}, renewed by the CLI)" if found.expires_at else ""
    return f"{kind}{expiry}"


def _environment_credential(settings: Settings) -> str | None:
    """The credential variable the CLI would use before the folder, if one is set."""
    for name, value in (
        ("FONDATION_CLAUDE_OAUTH_TOKEN", settings.claude_oauth_token),
        ("FONDATION_ANTHROPIC_API_KEY", settings.anthropic_api_key),
    ):
        if value is not None and value.get_secret_value():
            return name
    return None


@claude_app.command("backup")
def backup(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Directory for the archive (default: FONDATION_CLAUDE_BACKUP_DIR).", show_default=False
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Archive the credentials folder (tar.gz, mode 600, timestamped); the last 5 archives are kept."""
    from fondation.ops import claude_credentials as creds

    settings = load_settings()
    backup_dir = out or settings.claude_backup_dir
    archive = creds.backup_credentials(settings.claude_config_dir, backup_dir)
    kept = creds.list_backups(backup_dir)
    if as_json:
        print_json({"archive": archive, "kept": kept})
        return
    say(
        f"backed up {settings.claude_config_dir} to {archive} (mode 600); "
        f"{_plural(len(kept), 'backup')} kept in {backup_dir}"
    )


@claude_app.command("restore")
def restore(
    archive: Annotated[
        str,
        typer.Argument(metavar="[FILE|latest]", help="An archive made by `fondation claude backup`, or `latest`."),
    ] = "latest",
) -> None:
    """Replace the credentials folder by a backup: every entry is checked first, the swap is all or nothing."""
    from fondation.ops import claude_credentials as creds

    settings = load_settings()
    path = creds.resolve_archive(archive, settings.claude_backup_dir)
    summary = creds.restore_credentials(path, settings.claude_config_dir)
    say(
        f"restored {_plural(summary.files, 'file')} from {path} into {settings.claude_config_dir}: check with "
        "`fondation doctor`, then `fondation jobs retry ID` for the jobs that ended dead with kind auth"
    )


@claude_app.command("revoke")
def revoke() -> None:
    """Wipe the credentials folder: the Claude provider is not ready until someone logs in or restores."""
    from fondation.ops import claude_credentials as creds

    settings = load_settings()
    removed = creds.revoke_credentials(settings.claude_config_dir)
    say(
        f"removed {_plural(removed, 'file')} from {settings.claude_config_dir}: the Claude provider is not ready now "
        f"(jobs that need it end dead with kind auth) until {_AGAIN}"
    )
    environment = _environment_credential(settings)
    if environment:
        say(f"{environment} is still set and the CLI uses it: remove it from the workers' environment too")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"

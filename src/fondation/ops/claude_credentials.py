"""The Claude CLI's credentials folder (`FONDATION_CLAUDE_CONFIG_DIR`, default /srv/claude-creds).

Workers hand this folder to the Claude CLI as its CLAUDE_CONFIG_DIR; the runbook's incident 4
(authentication failed) is handled here: see the state, log in again, back up, restore, revoke.
"""

from __future__ import annotations

import shutil
from pathlib import Path


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

"""Local directories: analysed where they are, read-only, or cloned at a ref when one is asked for.

A directory is somebody's working copy, so without a ref it is never copied nor modified: it becomes the
checkout root as it is (uncommitted changes included, which is what someone pointing at their own work
wants). Git is only asked, read-only, which commit is checked out there. With a ref, the directory must be
a git repository; it is fetched from like any remote (file transport allowed, nothing hard-linked) into
the work directory, so checking out another branch never touches the original.

Symbolic links inside the directory are not followed here (sizes count the link itself), and whoever
reads the checkout must not follow them either: a link may point anywhere on the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

from fondation.domain.errors import SourceError
from fondation.domain.jobs import ErrorKind
from fondation.sources.git import Remote, describe_work_tree


def describe_directory(path: Path, *, work_dir: Path, timeout: float) -> tuple[str | None, str | None]:
    """The commit and branch checked out in `path` when it is a git work tree, else (None, None)."""
    _require_readable(path)
    if not (path / ".git").exists():
        return None, None
    return describe_work_tree(path, work_dir=work_dir, timeout=timeout)


def repository_remote(path: Path) -> Remote:
    """`path` as a remote to fetch a ref from; refused when it is no git repository."""
    _require_readable(path)
    if not (path / ".git").exists():
        message = f"{path} is not a git repository: a branch, tag or commit can only be checked out from one"
        raise SourceError(ErrorKind.PERMANENT, message)
    return Remote(str(path), str(path), allow_file=True)


def _require_readable(path: Path) -> None:
    """Refuse (as `permanent`) a directory that is gone or that this worker may not list."""
    try:
        with os.scandir(path) as entries:
            next(entries, None)
    except (FileNotFoundError, NotADirectoryError):
        raise SourceError(ErrorKind.PERMANENT, f"directory {path} no longer exists") from None
    except OSError as error:
        raise SourceError(ErrorKind.PERMANENT, f"cannot read directory {path}: {error.strerror}") from None

"""Deterministic zip archives of rendered courses, so the same course always exports to the same bytes."""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["zip_directory"]

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def zip_directory(src: Path, zip_path: Path, *, exclude: tuple[str, ...] = ()) -> Path:
    """Zip the files under `src` (sorted, fixed timestamps and modes, symlinks left out) into `zip_path`.

    `exclude` names top-level folders of `src` to leave out (a course's rendered `site/` beside its
    markdown). The archive is written beside its final name and moved into place, so a reader never
    sees half of it.
    """
    partial = zip_path.with_name(zip_path.name + ".partial")
    skip = {zip_path.resolve(), partial.resolve()}
    files = sorted(
        (path.relative_to(src).as_posix(), path)
        for path in src.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and path.resolve() not in skip
        and path.relative_to(src).parts[0] not in exclude
    )
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    partial.replace(zip_path)
    return zip_path

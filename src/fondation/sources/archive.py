"""Extracting a local `.tar.gz`, `.tgz` or `.zip` archive, refusing whatever could escape or explode.

An archive is data from someone else, so every member is checked before anything is written:

- a name that is absolute or has a `..` component is refused (our own check), and so is any member
  `tarfile.data_filter` refuses: a path resolving outside the destination, a device or FIFO, a link whose
  target is absolute or outside. Zip members go through the same filter, converted to tar headers, so one
  set of rules holds for both formats;
- links are never created. A link that stays inside the archive only repeats a member that is extracted
  anyway, so it is dropped; one pointing outside marks a hostile archive, which is refused whole.
  With no link on disk, no later write or read can be redirected through one;
- members and bytes are counted against the limits from the headers before each member is written (from
  the zip's central directory before anything is written) and again from the bytes actually written,
  since a zip bomb's headers can lie. The readers stop at the declared size anyway; counting what is
  written keeps the limit true whatever a reader does.

On any refusal the caller removes the partial extraction; nothing is ever written outside `dest`.
"""

from __future__ import annotations

import errno
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, cast

from fondation.domain.errors import SourceError
from fondation.domain.jobs import ErrorKind
from fondation.sources.limits import Limits

_CHUNK = 1024 * 1024
#: A zip symlink member holds its target as data; anything longer is no path.
_MAX_LINK_TARGET = 4096
_ZIP_TYPES = {
    stat.S_IFDIR: tarfile.DIRTYPE,
    stat.S_IFLNK: tarfile.SYMTYPE,
    stat.S_IFCHR: tarfile.CHRTYPE,
    stat.S_IFBLK: tarfile.BLKTYPE,
    stat.S_IFIFO: tarfile.FIFOTYPE,
}

Member = tuple[tarfile.TarInfo, Callable[[], IO[bytes]]]


def extract(archive: Path, dest: Path, limits: Limits) -> Path:
    """Extract `archive` into the empty directory `dest`; return the root to analyse.

    The root is the archive's single top-level directory when it has one (`project-1.2/…`), else `dest`.
    """
    writer = _Writer(dest, limits)
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as bundle:
                infos = bundle.infolist()
                limits.check("archive", sum(info.file_size for info in infos), len(infos))
                writer.extract_all(_zip_members(bundle, infos))
        else:
            with tarfile.open(archive, "r:gz") as bundle:
                writer.extract_all(_tar_members(bundle))
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise SourceError(ErrorKind.PERMANENT, f"cannot read archive {archive.name}: {reason}") from None
    entries = list(dest.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def _tar_members(bundle: tarfile.TarFile) -> Iterator[Member]:
    for member in bundle:
        # Only regular members are opened, and extractfile returns a reader for every one of them.
        yield member, lambda member=member: cast(IO[bytes], bundle.extractfile(member))


def _zip_members(bundle: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> Iterator[Member]:
    """Each zip member as the tar header that describes it, so one filter judges both formats."""
    for info in infos:
        mode = info.external_attr >> 16
        member = tarfile.TarInfo(info.filename)
        member.size = info.file_size
        member.mode = stat.S_IMODE(mode) or 0o644
        member.type = tarfile.DIRTYPE if info.is_dir() else _ZIP_TYPES.get(stat.S_IFMT(mode), tarfile.REGTYPE)
        if member.issym():
            if info.file_size > _MAX_LINK_TARGET:
                raise SourceError(ErrorKind.PERMANENT, f"archive member {info.filename!r} is not a valid link")
            member.linkname = bundle.read(info).decode("utf-8", errors="replace")
        yield member, lambda info=info: bundle.open(info)


class _Writer:
    """Writes checked members under `dest`, keeping the running counts the limits are checked against."""

    def __init__(self, dest: Path, limits: Limits) -> None:
        self._dest = dest
        self._limits = limits
        self._files = 0
        self._bytes = 0

    def extract_all(self, members: Iterator[Member]) -> None:
        for member, open_data in members:
            target = self._admit(member)
            if target is None or member.issym() or member.islnk():
                continue
            try:
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    self._write(target, open_data)
            except OSError as error:
                raise _write_error(member.name, error) from None

    def _admit(self, member: tarfile.TarInfo) -> Path | None:
        """Where `member` goes, after every check that can be made from its header; None for the root."""
        name = PurePosixPath(member.name)
        if name.is_absolute():
            raise _hostile(member.name, "has an absolute path")
        if ".." in name.parts:
            raise _hostile(member.name, "has a '..' component")
        try:
            tarfile.data_filter(member, str(self._dest))
        except tarfile.FilterError as error:
            raise _hostile(member.name, _filter_reason(error)) from None
        self._files += 1
        self._limits.check("archive", self._bytes + member.size, self._files, partial=True)
        parts = [part for part in name.parts if part != "."]
        return self._dest.joinpath(*parts) if parts else None

    def _write(self, target: Path, open_data: Callable[[], IO[bytes]]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_data() as source, target.open("wb") as sink:
            while chunk := source.read(_CHUNK):
                self._bytes += len(chunk)
                self._limits.check("archive", self._bytes, self._files, partial=True)
                sink.write(chunk)


def _filter_reason(error: tarfile.FilterError) -> str:
    if isinstance(error, tarfile.SpecialFileError):
        return "is a device or special file"
    if isinstance(error, tarfile.AbsoluteLinkError | tarfile.LinkOutsideDestinationError):
        return f"links outside the archive ({error.tarinfo.linkname!r})"
    return "would be written outside the extraction directory"


def _hostile(name: str, reason: str) -> SourceError:
    return SourceError(ErrorKind.PERMANENT, f"unsafe archive refused: member {name!r} {reason}")


def _write_error(name: str, error: OSError) -> SourceError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return SourceError(ErrorKind.RESOURCE, "no space left on device extracting the archive")
    return SourceError(ErrorKind.PERMANENT, f"cannot extract archive member {name!r}: {error.strerror}")

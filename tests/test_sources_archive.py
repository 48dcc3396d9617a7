"""acquire() on local archives: good ones are unpacked, hostile ones refused with nothing written outside."""

from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fondation.domain.errors import InvalidSourceError, SourceError
from fondation.domain.jobs import ErrorKind
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.sources.acquire import Checkout, SourceOptions, acquire
from git_servers import Sample, git

pytest_plugins = ["git_servers"]

ZEROS = b"\0" * (20 * 1024 * 1024)


def tar_member(name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, link: str = "") -> tuple:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = link
    member.size = len(data) if kind == tarfile.REGTYPE else 0
    return member, data


def make_tar(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as bundle:
        for member, data in members:
            bundle.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return path


def zip_member(name: str, data: bytes = b"", *, mode: int = stat.S_IFREG | 0o644) -> tuple:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info, data


def make_zip(path: Path, *members: tuple[zipfile.ZipInfo, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for info, data in members:
            bundle.writestr(info, data)
    return path


def unpack(archive: Path, work_dir: Path, **options: Any) -> Checkout:
    spec = SourceSpec(SourceKind.ARCHIVE, str(archive), archive.name.split(".")[0])
    return acquire(spec, ref=None, work_dir=work_dir, options=SourceOptions(**options))


def refused(archive: Path, tmp_path: Path, **options: Any) -> SourceError:
    """The error `archive` is refused with; nothing may be left in the work dir nor outside it."""
    before = set(tmp_path.rglob("*"))
    work_dir = tmp_path / "work"
    with pytest.raises(SourceError) as caught:
        unpack(archive, work_dir, **options)
    assert list(work_dir.iterdir()) == []
    assert set(tmp_path.rglob("*")) == before | {work_dir}
    assert "\n" not in caught.value.message
    return caught.value


PROJECT = (
    ("project-1.0/README.md", b"# Project\n"),
    ("project-1.0/src/main.py", b"print('hello')\n"),
)


def test_a_tar_gz_with_one_top_level_directory_is_unwrapped(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "project.tar.gz",
        tar_member("project-1.0", kind=tarfile.DIRTYPE),
        *(tar_member(name, data) for name, data in PROJECT),
        tar_member("project-1.0/docs/readme-link", kind=tarfile.SYMTYPE, link="../README.md"),
        tar_member("project-1.0/hardlink", kind=tarfile.LNKTYPE, link="project-1.0/README.md"),
    )
    checkout = unpack(archive, tmp_path / "work")
    assert checkout.root.name == "project-1.0"
    assert checkout.root.parent.parent == tmp_path / "work"
    assert (checkout.root / "src" / "main.py").read_bytes() == b"print('hello')\n"
    assert (checkout.commit, checkout.default_branch, checkout.ref) == (None, None, None)
    # links inside the archive are dropped, not created
    assert not (checkout.root / "docs" / "readme-link").exists()
    assert not (checkout.root / "docs" / "readme-link").is_symlink()
    assert not (checkout.root / "hardlink").exists()


def test_an_archive_made_by_git_archive_is_unpacked(sample: Sample, tmp_path: Path) -> None:
    archive = tmp_path / "sample.tar.gz"
    git("archive", "--format=tar.gz", "--prefix=sample-main/", f"--output={archive}", "main", cwd=sample.work_tree)
    checkout = unpack(archive, tmp_path / "work")
    assert checkout.root.name == "sample-main"
    assert (checkout.root / "VERSION").read_text() == "main\n"


def test_a_zip_with_one_top_level_directory_is_unwrapped(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "project.zip",
        zip_member("project-1.0/", mode=stat.S_IFDIR | 0o755),
        *(zip_member(name, data) for name, data in PROJECT),
    )
    checkout = unpack(archive, tmp_path / "work")
    assert checkout.root.name == "project-1.0"
    assert (checkout.root / "README.md").read_bytes() == b"# Project\n"


def test_an_archive_with_several_top_level_entries_is_its_own_root(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "flat.zip", zip_member("a.py", b"a = 1\n"), zip_member("lib/b.py", b"b = 2\n"))
    checkout = unpack(archive, tmp_path / "work")
    assert sorted(path.name for path in checkout.root.iterdir()) == ["a.py", "lib"]


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([tar_member("/etc/evil", b"x")], "member '/etc/evil' has an absolute path"),
        ([tar_member("../../escaped", b"x")], "member '../../escaped' has a '..' component"),
        ([tar_member("a/../../escaped", b"x")], "has a '..' component"),
        ([tar_member("link", kind=tarfile.SYMTYPE, link="/etc/passwd")], "member 'link' links outside the archive"),
        ([tar_member("link", kind=tarfile.SYMTYPE, link="../../up")], "links outside the archive ('../../up')"),
        ([tar_member("hard", kind=tarfile.LNKTYPE, link="../outside")], "member 'hard' links outside the archive"),
        ([tar_member("null", kind=tarfile.CHRTYPE)], "member 'null' is a device or special file"),
        ([tar_member("pipe", kind=tarfile.FIFOTYPE)], "member 'pipe' is a device or special file"),
    ],
)
def test_hostile_tar_members_are_refused(tmp_path: Path, members: list, reason: str) -> None:
    archive = make_tar(tmp_path / "hostile.tar.gz", tar_member("fine.txt", b"fine"), *members)
    error = refused(archive, tmp_path)
    assert error.kind is ErrorKind.PERMANENT
    assert error.message.startswith("unsafe archive refused: ")
    assert reason in error.message


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (zip_member("/etc/evil", b"x"), "member '/etc/evil' has an absolute path"),
        (zip_member("../../escaped", b"x"), "member '../../escaped' has a '..' component"),
        (zip_member("link", b"/etc/passwd", mode=stat.S_IFLNK | 0o777), "member 'link' links outside the archive"),
        (zip_member("link", b"../../x", mode=stat.S_IFLNK | 0o777), "links outside the archive ('../../x')"),
        (zip_member("dev", mode=stat.S_IFBLK | 0o600), "member 'dev' is a device or special file"),
    ],
)
def test_hostile_zip_members_are_refused(tmp_path: Path, member: tuple, reason: str) -> None:
    archive = make_zip(tmp_path / "hostile.zip", zip_member("fine.txt", b"fine"), member)
    error = refused(archive, tmp_path)
    assert error.kind is ErrorKind.PERMANENT
    assert reason in error.message


def test_a_zip_bomb_is_refused_from_its_headers(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", zip_member("zeros.bin", ZEROS))
    assert archive.stat().st_size < 100_000
    error = refused(archive, tmp_path, max_repo_mb=1)
    assert (error.kind, error.message) == (ErrorKind.PERMANENT, "archive is 20.0 MB, limit 1.0 MB")


def test_a_tar_bomb_is_refused_before_the_member_is_written(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "bomb.tar.gz", tar_member("small.txt", b"x" * 600_000), tar_member("z", ZEROS))
    error = refused(archive, tmp_path, max_repo_mb=1)
    assert (error.kind, error.message) == (ErrorKind.PERMANENT, "archive is at least 20.6 MB, limit 1.0 MB")


def test_a_zip_whose_headers_understate_its_content_is_refused(tmp_path: Path) -> None:
    """The declared size is patched down to 100 bytes: extraction stops there, and the CRC gives it away."""
    archive = make_zip(tmp_path / "liar.zip", zip_member("zeros.bin", ZEROS))
    data = bytearray(archive.read_bytes())
    local_header = data.index(b"PK\x03\x04")
    central_header = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local_header + 22, 100)
    struct.pack_into("<I", data, central_header + 24, 100)
    archive.write_bytes(bytes(data))
    error = refused(archive, tmp_path, max_repo_mb=1)
    assert error.kind is ErrorKind.PERMANENT
    assert error.message.startswith("cannot read archive liar.zip: Bad CRC-32")


@pytest.mark.parametrize(
    ("maker", "message"),
    [
        (
            lambda path: make_zip(path / "many.zip", *(zip_member(f"f{i}", b"") for i in range(30))),
            "archive has 30 files, limit 10",
        ),
        (
            lambda path: make_tar(path / "many.tar.gz", *(tar_member(f"f{i}", b"") for i in range(30))),
            "archive has at least 11 files, limit 10",
        ),
    ],
)
def test_too_many_members_are_refused(tmp_path: Path, maker: Callable[[Path], Path], message: str) -> None:
    error = refused(maker(tmp_path), tmp_path, max_files=10)
    assert (error.kind, error.message) == (ErrorKind.PERMANENT, message)


def test_a_file_that_is_no_archive_is_permanent(tmp_path: Path) -> None:
    archive = tmp_path / "broken.tgz"
    archive.write_bytes(b"this is not gzip")
    error = refused(archive, tmp_path)
    assert error.kind is ErrorKind.PERMANENT
    assert error.message.startswith("cannot read archive broken.tgz: ")


def test_a_full_disk_while_extracting_is_a_resource_error(tmp_path: Path, tiny_disk: Path) -> None:
    archive = make_tar(tmp_path / "big.tar.gz", tar_member("random.bin", os.urandom(1024 * 1024)))
    with pytest.raises(SourceError) as caught:
        unpack(archive, tiny_disk / "work")
    assert (caught.value.kind, caught.value.message) == (
        ErrorKind.RESOURCE,
        "no space left on device extracting the archive",
    )
    assert list((tiny_disk / "work").iterdir()) == []


def test_an_archive_takes_no_ref(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", zip_member("a.py", b""))
    spec = SourceSpec(SourceKind.ARCHIVE, str(archive), "a")
    with pytest.raises(InvalidSourceError, match="an archive has no branches or tags"):
        acquire(spec, ref="main", work_dir=tmp_path / "work", options=SourceOptions())


def test_archives_are_refused_where_local_sources_are_not_allowed(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", zip_member("a.py", b""))
    with pytest.raises(InvalidSourceError, match="local directories and archives are not accepted here"):
        unpack(archive, tmp_path / "work", allow_local=False)
    assert not (tmp_path / "work").exists()

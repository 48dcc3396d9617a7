"""acquire() on local directories: used in place and never modified, or cloned at a ref into the work dir."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fondation.domain.errors import InvalidSourceError, SourceError
from fondation.domain.jobs import ErrorKind
from fondation.domain.sources import SourceKind, SourceSpec
from fondation.sources.acquire import Checkout, SourceOptions, acquire
from git_servers import Sample, git

pytest_plugins = ["git_servers"]


def local(path: Path, work_dir: Path, ref: str | None = None, **options: Any) -> Checkout:
    spec = SourceSpec(SourceKind.LOCAL, str(path), path.name)
    return acquire(spec, ref=ref, work_dir=work_dir, options=SourceOptions(**options))


def tree_digest(root: Path) -> str:
    """Names, types, sizes, modification times and contents of everything under `root`, `.git` included."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest.update(f"{path.relative_to(root)} {info.st_mode} {info.st_size} {info.st_mtime_ns}\n".encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def work_tree(sample: Sample, tmp_path: Path) -> Path:
    """A private copy of the sample work tree (on `main`, with a file not committed)."""
    copy = tmp_path / "project"
    shutil.copytree(sample.work_tree, copy, symlinks=True)
    (copy / "notes.txt").write_text("uncommitted work\n")
    return copy


def test_a_directory_is_used_in_place_and_not_modified(work_tree: Path, sample: Sample, tmp_path: Path) -> None:
    before = tree_digest(work_tree)
    checkout = local(work_tree, tmp_path / "work")
    assert checkout.root == work_tree
    assert (checkout.root / "notes.txt").read_text() == "uncommitted work\n"
    assert (checkout.commit, checkout.default_branch, checkout.ref) == (sample.main, "main", None)
    assert tree_digest(work_tree) == before
    assert list((tmp_path / "work").iterdir()) == []


def test_a_directory_that_is_no_git_repository_has_no_commit(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    project.mkdir()
    (project / "main.py").write_text("print(1)\n")
    checkout = local(project, tmp_path / "work")
    assert (checkout.root, checkout.commit, checkout.default_branch) == (project, None, None)


def test_a_ref_is_checked_out_from_a_local_clone_leaving_the_directory_alone(
    work_tree: Path, sample: Sample, tmp_path: Path
) -> None:
    before = tree_digest(work_tree)
    checkout = local(work_tree, tmp_path / "work", "feature")
    assert checkout.root.parent == tmp_path / "work"
    assert (checkout.commit, checkout.default_branch, checkout.ref) == (sample.feature, "main", "feature")
    assert (checkout.root / "VERSION").read_text() == "feature\n"
    assert not (checkout.root / "notes.txt").exists()
    assert git("rev-parse", "--is-shallow-repository", cwd=checkout.root) == "true"
    assert tree_digest(work_tree) == before


def test_a_ref_needs_a_git_repository(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    project.mkdir()
    with pytest.raises(SourceError) as caught:
        local(project, tmp_path / "work", "main")
    assert caught.value.kind is ErrorKind.PERMANENT
    assert caught.value.message == (
        f"{project} is not a git repository: a branch, tag or commit can only be checked out from one"
    )


def test_a_directory_that_has_gone_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        local(tmp_path / "gone", tmp_path / "work")
    assert (caught.value.kind, caught.value.message) == (
        ErrorKind.PERMANENT,
        f"directory {tmp_path / 'gone'} no longer exists",
    )


def test_a_directory_over_the_limits_is_refused_with_figures(tmp_path: Path) -> None:
    project = tmp_path / "many"
    project.mkdir()
    for index in range(12):
        (project / f"f{index}.py").write_text("x = 1\n")
    with pytest.raises(SourceError) as caught:
        local(project, tmp_path / "work", max_files=10)
    assert (caught.value.kind, caught.value.message) == (ErrorKind.PERMANENT, "directory has 12 files, limit 10")


def test_symbolic_links_are_not_followed(tmp_path: Path) -> None:
    """A link to a big file outside counts as the link itself: what it points at is not the project's."""
    outside = tmp_path / "outside.bin"
    outside.write_bytes(os.urandom(2 * 1024 * 1024))
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("print(1)\n")
    (project / "big").symlink_to(outside)
    (project / "everything").symlink_to("/")
    checkout = local(project, tmp_path / "work", max_repo_mb=1, max_files=3)
    assert checkout.root == project


def test_local_directories_are_refused_where_local_sources_are_not_allowed(work_tree: Path, tmp_path: Path) -> None:
    for ref in (None, "main"):
        with pytest.raises(InvalidSourceError, match="local directories and archives are not accepted here"):
            local(work_tree, tmp_path / "work", ref, allow_local=False)
    assert not (tmp_path / "work").exists()


def test_a_directorys_own_dependencies_do_not_count_against_the_limits(tmp_path: Path) -> None:
    """A project read in place is measured as the code map reads it: its .venv and node_modules are left out."""
    project = tmp_path / "app"
    for folder in ("node_modules/lib", ".venv/lib", "build"):
        (project / folder).mkdir(parents=True)
        for index in range(12):
            (project / folder / f"f{index}.js").write_text("x")
    (project / "main.py").write_text("x = 1\n")
    checkout = local(project, tmp_path / "work", max_files=10)
    assert checkout.root == project

"""scripts/fetch-assets.sh: the vendored browser assets, quick when up to date, clear when npm is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from fondation.render import vendored_asset

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "fetch-assets.sh"


def test_up_to_date_assets_are_left_alone() -> None:
    run = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    assert "installing" not in run.stdout  # `make test` ran it already: nothing to fetch
    for name, package in (
        ("mermaid.min.js", "mermaid/dist"),
        ("htmx.min.js", "htmx.org/dist"),
        ("sse.min.js", "htmx-ext-sse/dist"),
    ):
        assert vendored_asset(name).read_bytes() == (REPO / "node_modules" / package / name).read_bytes()
    # `npm ci` installs the lock file's tree and never rewrites the lock file.
    diff = ["git", "diff", "--exit-code", "--", "package-lock.json"]
    assert subprocess.run(diff, cwd=REPO, capture_output=True, check=False).returncode == 0


def test_the_lock_file_names_no_registry_host() -> None:
    """Lock files that name a registry host are not committed: ours carries integrity hashes only."""
    lock = (REPO / "package-lock.json").read_text(encoding="utf-8")
    assert '"resolved"' not in lock and "registry.npmjs.org" not in lock
    assert lock.count('"integrity": "sha512-') >= 100


def test_missing_npm_is_named_with_the_fix(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, repo / "scripts")
    shutil.copy(REPO / "package.json", repo)
    shutil.copy(REPO / "package-lock.json", repo)
    bin_dir = tmp_path / "bin"  # the tools the script needs, and no npm
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "sha256sum", "cut", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    run = subprocess.run(
        [str(bin_dir / "bash"), str(repo / "scripts" / "fetch-assets.sh")],
        capture_output=True,
        text=True,
        env={"PATH": str(bin_dir)},
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert "npm is missing" in run.stderr and "make assets" in run.stderr

"""Real open-source code bases, fetched from the package registries and unpacked: for tests and benchmarks.

Pinned versions, so the figures asserted and published stay true. Downloads are cached in the system
temp directory across processes (xdist workers each ask; the first one to finish an unpack wins the
atomic rename, the others reuse it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: name → (registry, requirement). Python sdists from PyPI, JavaScript/TypeScript tarballs from npm.
PACKAGES = {
    "debug": ("npm", "debug@4.3.7"),  # the small end of the benchmark's range (818 analysed lines)
    "click": ("pypi", "click==8.1.7"),
    "requests": ("pypi", "requests==2.32.3"),
    "express": ("npm", "express@4.21.2"),
    "zod": ("npm", "zod@3.23.8"),
    "attrs": ("pypi", "attrs==24.2.0"),
    "rich": ("pypi", "rich==13.9.4"),
    "pygments": ("pypi", "pygments==2.18.0"),
    "sqlalchemy": ("pypi", "sqlalchemy==2.0.36"),
}

CACHE = Path(tempfile.gettempdir()) / "fondation-test-corpus"


def fetch(name: str) -> Path:
    """The unpacked source tree of a pinned package (its top directory)."""
    registry, requirement = PACKAGES[name]
    target = CACHE / requirement.replace("==", "-").replace("@", "-").replace("/", "_")
    if target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        download = Path(work) / "download"
        download.mkdir()
        archive = _download(registry, requirement, download)
        unpacked = Path(work) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpacked, filter="data")
        (top,) = list(unpacked.iterdir())
        try:
            os.rename(top, target)
        except OSError:  # another process got there first
            if not target.is_dir():
                raise
    return target


def _download(registry: str, requirement: str, into: Path) -> Path:
    if registry == "pypi":
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        command += ["--disable-pip-version-check", "-d", str(into), requirement]
    else:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed for the JavaScript corpus (make test installs Node.js)")
        command = [npm, "pack", "--silent", "--pack-destination", str(into), requirement]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fetching {requirement} failed: {done.stderr.strip()[-500:]}")
    (archive,) = [path for path in into.iterdir() if path.name.endswith((".tar.gz", ".tgz"))]
    return archive

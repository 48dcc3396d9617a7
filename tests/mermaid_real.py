"""The real mermaid parser (the version pinned in package.json) for tests, through scripts/mermaid-parse.mjs.

One node process parses a whole batch, so checking hundreds of diagrams costs one start-up (about a
second). Missing node or npm packages fail with the command that installs them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "mermaid-parse.mjs"


def real_mermaid_errors(diagrams: list[str]) -> list[str | None]:
    """For each diagram, None when mermaid parses it, else mermaid's error message."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is missing: install Node.js >= 20.19 with npm, then run `make assets`")
    for package in ("mermaid", "jsdom"):
        if not (REPO / "node_modules" / package / "package.json").is_file():
            raise RuntimeError(f"node_modules/{package} is missing: run `make assets`")
    run = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(diagrams),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"{SCRIPT.name} failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
    results = json.loads(run.stdout)
    if len(results) != len(diagrams):
        raise RuntimeError(f"{SCRIPT.name} answered {len(results)} results for {len(diagrams)} diagrams")
    return results

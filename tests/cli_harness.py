"""Running the real `fondation` console script the way a user does, and reading what it printed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def ok(self) -> str:
        assert self.code == 0, self.stderr
        assert self.stderr == ""
        return self.stdout

    def json(self) -> Any:
        return json.loads(self.ok())

    def error(self, code: int) -> str:
        """The one line a failure must print on stderr (exit code checked too)."""
        assert "Traceback" not in self.stderr + self.stdout
        assert self.code == code, (self.code, self.stderr)
        lines = self.stderr.splitlines()
        assert len(lines) == 1, self.stderr
        assert lines[0].startswith("error: ")
        return lines[0]


#: `cli(*args, TIMEOUT=…, **env)`: run `fondation ARGS` in the test's directory with extra environment.
Cli = Callable[..., Run]

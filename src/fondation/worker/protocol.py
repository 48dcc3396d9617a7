"""What the worker and a job's child process say to each other.

The parent writes one JSON `JobSpec` to the child's stdin; the child writes JSON lines on a dedicated
pipe (never stdout, which the job's own code may print to): `progress`, then one `result` or `error`.
The child never touches the database: the parent holds the lease and does every fenced write, so a
child that hangs, crashes or is killed cannot leave a half-written job behind.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_MESSAGE_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class JobSpec:
    """Everything a child needs to run one attempt of one job."""

    job_id: int
    attempt: int
    source: str
    ref: str | None
    options: dict[str, Any]
    work_dir: str
    handler: str
    worker_id: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        return cls(**json.loads(text))


def encode(message_type: str, **payload: Any) -> bytes:
    """One message line: `{"type": message_type, ...}`."""
    return (json.dumps({"type": message_type, **payload}, default=str) + "\n").encode()


def decode(line: bytes) -> dict[str, Any] | None:
    """Parse one line from a child; None for anything that is not a well-formed message."""
    if len(line) > MAX_MESSAGE_BYTES:
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and isinstance(message.get("type"), str) else None

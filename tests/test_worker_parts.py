"""The worker's small parts in isolation: the child protocol, attempt directories, guards, handlers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fondation.worker import guards, workdirs
from fondation.worker.child_process import describe_exit
from fondation.worker.handlers import load_handler
from fondation.worker.protocol import MAX_MESSAGE_BYTES, JobSpec, decode, encode


def test_messages_round_trip_and_garbage_is_ignored() -> None:
    line = encode("progress", phase="mapping", percent=12.5)
    assert decode(line) == {"type": "progress", "phase": "mapping", "percent": 12.5}
    for garbage in (
        b"not json\n",
        b"[1, 2]\n",
        b'{"no_type": 1}\n',
        b'{"type": 3}\n',
        json.dumps({"type": "x", "pad": "a" * MAX_MESSAGE_BYTES}).encode(),
    ):
        assert decode(garbage) is None


def test_job_spec_round_trips() -> None:
    spec = JobSpec(
        job_id=3,
        attempt=2,
        source="https://github.com/a/b.git",
        ref="main",
        options={"k": [1]},
        work_dir="/tmp/x",
        handler="m:f",
        worker_id="w",
    )
    assert JobSpec.from_json(spec.to_json()) == spec


def test_leftover_attempt_dirs_are_cleaned_but_running_ones_kept(tmp_path: Path) -> None:
    for name in ("job-1-1", "job-1-2", "job-2-1", "unrelated"):
        (tmp_path / name).mkdir()
    (tmp_path / "job-9-9").write_text("a file, not an attempt directory")
    removed = workdirs.clean_leftovers(tmp_path, running={(1, 2)})
    assert sorted(p.name for p in removed) == ["job-1-1", "job-2-1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job-1-2", "job-9-9", "unrelated"]
    assert [p.name for p in workdirs.clean_leftovers(tmp_path, running={(1, 2)}, everything=True)] == ["job-1-2"]
    assert workdirs.clean_leftovers(tmp_path / "missing", running=set()) == []


def test_attempt_dir_starts_empty(tmp_path: Path) -> None:
    first = workdirs.create_attempt_dir(tmp_path, 4, 1)
    (first / "old").write_text("x")
    again = workdirs.create_attempt_dir(tmp_path, 4, 1)
    assert again == tmp_path / "job-4-1" and list(again.iterdir()) == []


def test_guards_name_the_setting_to_change(tmp_path: Path) -> None:
    report = guards.check(tmp_path / "temp", min_free_disk_mb=10**9, worker_memory_mb=1)
    assert not report.disk_ok and not report.memory_ok
    assert "FONDATION_MIN_FREE_DISK_MB" in report.reasons[0]
    assert "FONDATION_WORKER_MEMORY_MB" in report.reasons[1]
    assert guards.check(tmp_path, min_free_disk_mb=0, worker_memory_mb=10**6).reasons == []


def test_describe_exit() -> None:
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-11) == "killed by SIGSEGV"
    assert describe_exit(-9) == "killed by SIGKILL"


@pytest.mark.parametrize(("path", "message"), [("nocolon", "module:function"), ("json:loads_nope", "not a function")])
def test_bad_handler_paths_are_refused(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_handler(path)
    assert load_handler("json:loads") is json.loads

"""One job's child process as the parent sees it: start it, read its messages, measure it, kill it.

The child runs in its own session (so its own process group): killing the group also kills whatever
the job started (git, the Claude CLI), and a signal sent to the worker's terminal never reaches it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psutil

from fondation.worker.protocol import JobSpec, decode


class ChildProcess:
    """A started child; `messages()` yields what it says until it closes its channel."""

    def __init__(self, spec: JobSpec, *, env: dict[str, str] | None = None) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "fondation.worker.child", str(write_fd), str(os.getpid())],
                stdin=subprocess.PIPE,
                pass_fds=(write_fd,),
                start_new_session=True,
                cwd=spec.work_dir,
                env=env,
            )
        finally:
            os.close(write_fd)
        self._channel = os.fdopen(read_fd, "rb")
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.write(spec.to_json().encode())
            self.popen.stdin.close()
        except BrokenPipeError:  # the child died before reading its spec; its exit code tells why
            pass

    @property
    def pid(self) -> int:
        return self.popen.pid

    def messages(self) -> Iterator[dict[str, Any]]:
        """Each well-formed message, until the child exits (or closes the channel)."""
        with self._channel:
            for line in self._channel:
                message = decode(line)
                if message is not None:
                    yield message

    def wait(self) -> int:
        return self.popen.wait()

    def kill(self) -> None:
        """SIGKILL the whole process group; harmless when it is already gone."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def rss_bytes(self) -> int:
        """Resident memory of the child and everything it started."""
        try:
            root = psutil.Process(self.popen.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                continue
        return total


def describe_exit(returncode: int) -> str:
    """`exited with code 3` or `killed by SIGSEGV`."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"

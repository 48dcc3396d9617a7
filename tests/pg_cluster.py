"""A private, throwaway PostgreSQL cluster a test may stop and start at will (an outage on demand).

Modelled on scripts/with-postgres.sh: initdb with trust auth, pg_ctl on 127.0.0.1 with a free port,
run as the postgres system user when the tests run as root (initdb refuses root). The port is kept
across restarts, so clients reconnect to the same URL once the server is back.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from worker_harness import free_port


def pg_bin_dir() -> Path | None:
    """The newest PostgreSQL server binaries installed (PG_BIN wins), or None."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    return Path(found[-1]) if found else None


class PgCluster:
    """initdb'd once; `start`, `stop` (fast: clients are disconnected) and `restart` on a fixed port."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or pg_bin_dir()
        if found is None or not (found / "initdb").exists():
            raise RuntimeError("PostgreSQL server binaries not found (run scripts/install-system-deps.sh as root)")
        self.bin_dir = found
        self.dir = Path(tempfile.mkdtemp(prefix="fondation-pg-private."))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as_postgres: list[str] = []
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions")

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off -c max_connections=100"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-t", "60", "-o", options, "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        status = subprocess.run(
            [*self._as_postgres, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def destroy(self) -> None:
        if self.data.exists() and self.is_running():
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def server_log(self) -> str:
        path = self.dir / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_postgres, str(self.bin_dir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stdout}{done.stderr}{self.server_log()}")

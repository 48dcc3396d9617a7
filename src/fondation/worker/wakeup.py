"""PostgreSQL LISTEN/NOTIFY: wake the claim loop on enqueue, stop a job the moment its cancel lands.

Polling stays the floor (every POLL_INTERVAL) so a lost listener only costs latency, never work; a
lost connection is re-established with capped backoff, and the loop is woken after each reconnect
in case a notification fell in the gap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg

from fondation.logs import get_logger
from fondation.queue.sql import CANCEL_CHANNEL, NOTIFY_CHANNEL
from fondation.store.database import normalise_url


class PgListener:
    """A daemon thread holding one autocommit connection that LISTENs on the queue's channels."""

    def __init__(self, url: str, *, on_job: Callable[[], None], on_cancel: Callable[[int], None]) -> None:
        self.url = normalise_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
        self.on_job = on_job
        self.on_cancel = on_cancel
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-listener", daemon=True)
        self._log = get_logger(component="listener")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.url, autocommit=True, connect_timeout=5, application_name="fondation"
                ) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    conn.execute(f"LISTEN {CANCEL_CHANNEL}")
                    self.connected.set()
                    backoff = 0.5
                    self.on_job()  # anything enqueued while we were not listening
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._dispatch(note.channel, note.payload)
            except psycopg.Error as error:
                if self.connected.is_set():
                    self._log.warning("listener lost, polling until it is back", error=str(error).strip())
                self.connected.clear()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        self.connected.clear()

    def _dispatch(self, channel: str, payload: str) -> None:
        if channel == NOTIFY_CHANNEL:
            self.on_job()
        elif channel == CANCEL_CHANNEL and payload.isdigit():
            self.on_cancel(int(payload))

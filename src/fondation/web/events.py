"""Live job updates for every open page and API stream, from one poll of the event log per process.

A hundred browsers watching jobs cost the database one indexed query per tick (the events after the
last id seen), plus one read of the jobs that moved and are watched, not a hundred. Polling rather
than LISTEN/NOTIFY keeps SQLite and PostgreSQL on the same path; a tick of 0.2 s keeps updates well
under a second old.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fondation.domain.errors import DatabaseError
from fondation.domain.jobs import Job, JobEvent
from fondation.logs import get_logger
from fondation.queue import JobQueue

_QUEUE_SIZE = 256


@dataclass(frozen=True, slots=True)
class JobUpdate:
    """A watched job as it is now, and the events that moved it since the previous update."""

    job: Job
    events: tuple[JobEvent, ...]


class EventHub:
    """Fans new job events out to the subscribers of each job."""

    def __init__(self, queue: JobQueue, *, interval: float = 0.2) -> None:
        self.queue = queue
        self.interval = interval
        self._subscribers: dict[int, set[asyncio.Queue[JobUpdate]]] = defaultdict(set)
        self._last_id: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._log = get_logger(component="event-hub")

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @contextlib.asynccontextmanager
    async def subscribe(self, job_id: int) -> AsyncIterator[asyncio.Queue[JobUpdate]]:
        """A queue of the job's updates from now on, for as long as the `async with` lasts."""
        updates: asyncio.Queue[JobUpdate] = asyncio.Queue(_QUEUE_SIZE)
        self._subscribers[job_id].add(updates)
        try:
            yield updates
        finally:
            self._subscribers[job_id].discard(updates)
            if not self._subscribers[job_id]:
                del self._subscribers[job_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self._subscribers.values())

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except DatabaseError as error:  # the database is away: the pages keep their last state
                self._log.warning("live updates paused: database unavailable", error=str(error))
            except Exception:  # a bug must not end live updates for every page of this process
                self._log.exception("live updates: a tick failed")
            await asyncio.sleep(self.interval)

    async def _tick(self) -> None:
        if self._last_id is None or not self._subscribers:
            # Nobody watches: only keep up with the log's end, so a new watcher starts from now.
            self._last_id = await asyncio.to_thread(self.queue.last_event_id)
            return
        events = await asyncio.to_thread(self.queue.events_after, self._last_id)
        if not events:
            return
        self._last_id = events[-1].id
        by_job: dict[int, list[JobEvent]] = defaultdict(list)
        for event in events:
            if event.job_id in self._subscribers:
                by_job[event.job_id].append(event)
        if not by_job:
            return
        for job in await asyncio.to_thread(self.queue.get_many, list(by_job)):
            update = JobUpdate(job, tuple(by_job[job.id]))
            for updates in list(self._subscribers.get(job.id, ())):
                if updates.full():  # a stalled reader loses its oldest update, never the newest state
                    updates.get_nowait()
                updates.put_nowait(update)

"""What every request handler reaches for: the configuration, the stores, the queue, accounts, the event hub.

Built once per app (one database engine per process) and kept on `app.state.context`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from fondation.accounts import Accounts
from fondation.config import Settings
from fondation.queue import JobQueue, RetryPolicy, WorkerRegistry
from fondation.queue.stats import QueueStats
from fondation.store.courses import CourseStore
from fondation.store.database import Database
from fondation.store.repositories import RepositoryStore
from fondation.web.events import EventHub


@dataclass
class WebContext:
    settings: Settings
    db: Database
    queue: JobQueue
    courses: CourseStore
    repositories: RepositoryStore
    workers: WorkerRegistry
    stats: QueueStats
    accounts: Accounts
    hub: EventHub

    @classmethod
    def build(cls, settings: Settings, database: Database, *, secret: str | None = None) -> WebContext:
        queue = JobQueue(
            database, RetryPolicy(settings.retry_base_seconds, settings.retry_cap_seconds, settings.max_attempts)
        )
        return cls(
            settings=settings,
            db=database,
            queue=queue,
            courses=CourseStore(database),
            repositories=RepositoryStore(database),
            workers=WorkerRegistry(database),
            stats=QueueStats(database),
            accounts=Accounts(database, settings, secret=secret),
            hub=EventHub(queue),
        )


def web_context(request: Request) -> WebContext:
    """The app's context, as a FastAPI dependency."""
    return request.app.state.context

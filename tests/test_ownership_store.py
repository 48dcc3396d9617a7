"""Jobs and courses that belong to users: per-owner dedupe, listings, repositories, courses, operator
figures, and the migration that added owners to an existing database. Every backend."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect, text

from fondation.domain.courses import NewCourse, NewDocument
from fondation.domain.jobs import ErrorKind, Job, JobStatus, Lease, Progress
from fondation.queue import JobQueue
from fondation.queue.stats import FailureCount, QueueStats
from fondation.store import Database, migrations_runner
from fondation.store.accounts import AccountStore
from fondation.store.courses import CourseStore
from fondation.store.migrations_runner import HEAD, MIGRATIONS_DIR
from fondation.store.repositories import RepositoryInfo, RepositoryStore
from fondation.store.types import canonical_json
from helpers import advance_clock, source

LEASE = 30.0
#: The window of the failure counts, in seconds: long enough for a test's writes, short enough to wait out.
WINDOW = 2.0
#: The jobs table's partial indexes: the claim, the reaper and dedupe each walk one of them.
PARTIAL_INDEXES = ("ix_jobs_ready", "ix_jobs_running_lease", "ix_jobs_active_dedupe")


def _user(database: Database, name: str) -> int:
    return AccountStore(database).create_user(name, password_hash=None).id


def _ids(jobs: list[Job]) -> list[int]:
    return [job.id for job in jobs]


def _course(title: str) -> NewCourse:
    """Documents whose reading order (position) is not their path order."""
    return NewCourse(
        title=title,
        language="en",
        commit_sha="c" * 40,
        provider="offline",
        options={},
        quality={},
        documents=(
            NewDocument("index.md", "index", title, 0, f"# {title}\n"),
            NewDocument("chapters/02-b.md", "chapter", "B", 1, "# B\n"),
            NewDocument("chapters/01-a.md", "chapter", "A", 2, "# A\n"),
        ),
    )


def _claimed(queue: JobQueue, n: int, owner_id: int | None) -> Lease:
    """A new job for source `n`, claimed at once (so each test decides which job holds which lease)."""
    return Lease(queue.enqueue(source(n), owner_id=owner_id, claim_as="w1", lease_seconds=LEASE).job)


# ---------------------------------------------------------------------- jobs


def test_dedupe_is_per_owner_and_unchanged_for_operators(queue: JobQueue, database: Database) -> None:
    alice, bob = _user(database, "alice"), _user(database, "bob")
    first = queue.enqueue(source(1), owner_id=alice)
    again = queue.enqueue(source(1), owner_id=alice)
    other = queue.enqueue(source(1), owner_id=bob)
    operator = queue.enqueue(source(1))
    operator_again = queue.enqueue(source(1))
    assert first.created and (again.created, again.job.id) == (False, first.job.id)
    assert other.created and other.job.id != first.job.id and other.job.owner_id == bob
    assert operator.created and operator.job.id not in (first.job.id, other.job.id)
    assert (operator_again.created, operator_again.job.id) == (False, operator.job.id)
    assert operator.job.owner_id is None and first.job.owner_id == alice
    # An operator's key is the one earlier releases stored: their active jobs still dedupe after the upgrade.
    old_key = hashlib.sha256(canonical_json([operator.job.repository_id, None, {}]).encode()).hexdigest()
    stored = database.read(
        lambda conn: conn.execute(text("SELECT dedupe_key FROM jobs WHERE id = :id"), {"id": operator.job.id}).scalar()
    )
    assert stored == old_key


def test_list_filters_by_owner_and_repository_and_pages_backwards(queue: JobQueue, database: Database) -> None:
    alice, bob = _user(database, "alice"), _user(database, "bob")
    a1 = queue.enqueue(source(1), owner_id=alice).job
    a2 = queue.enqueue(source(2), owner_id=alice).job
    b1 = queue.enqueue(source(1), owner_id=bob).job
    op1 = queue.enqueue(source(1)).job
    a3 = queue.enqueue(source(1), owner_id=alice, force=True).job
    repo1 = a1.repository_id

    assert _ids(queue.list()) == [a3.id, op1.id, b1.id, a2.id, a1.id]  # no owner given: everyone's
    assert _ids(queue.list(owner_id=alice)) == [a3.id, a2.id, a1.id]
    assert _ids(queue.list(owner_id=bob)) == [b1.id]
    assert _ids(queue.list(repository_id=repo1)) == [a3.id, op1.id, b1.id, a1.id]
    assert _ids(queue.list(owner_id=alice, repository_id=repo1)) == [a3.id, a1.id]
    assert _ids(queue.list(owner_id=alice, limit=1)) == [a3.id]
    assert _ids(queue.list(owner_id=alice, limit=1, before_id=a3.id)) == [a2.id]
    assert _ids(queue.list(owner_id=alice, before_id=a1.id)) == []
    assert _ids(queue.list(before_id=b1.id)) == [a2.id, a1.id]
    (claimed,) = queue.claim("w1", lease_seconds=LEASE)  # the oldest ready job: a1
    assert claimed.job_id == a1.id
    assert _ids(queue.list(status=JobStatus.RUNNING, owner_id=alice)) == [a1.id]
    assert queue.list(status=JobStatus.RUNNING, owner_id=bob) == []


# ---------------------------------------------------------------------- repositories and courses


@dataclass
class World:
    """Two users and the operator, three repositories, three stored courses, jobs in every state."""

    alice: int
    bob: int
    repo1: int
    repo2: int
    repo3: int
    op_course: int
    alice_course: int
    bob_course: int
    running: Job
    pending: Job
    dead: Job


def _world(queue: JobQueue, database: Database) -> World:
    alice, bob = _user(database, "alice"), _user(database, "bob")
    store = CourseStore(database)
    courses = []
    for owner, title in ((None, "op"), (alice, "alice"), (bob, "bob")):
        lease = _claimed(queue, 1, owner)
        queue.complete(lease, {}, course=_course(title))
        courses.append(store.for_job(lease.job_id).id)
    failing = _claimed(queue, 2, alice)
    dead = queue.fail(failing, ErrorKind.PERMANENT, "repository not found")
    running = _claimed(queue, 3, None)
    queue.progress(running, Progress(phase="mapping", percent=40.0))
    pending = queue.enqueue(source(1), owner_id=alice).job
    return World(
        alice,
        bob,
        pending.repository_id,
        dead.repository_id,
        running.job.repository_id,
        *courses,
        running=queue.get(running.job_id),
        pending=pending,
        dead=dead,
    )


def _summary(info: RepositoryInfo) -> tuple[object, ...]:
    return (info.id, info.latest_job_id, info.latest_status, info.courses, info.latest_course_id)


def test_repositories_are_those_a_user_asked_for_with_their_own_latest_job_and_courses(
    queue: JobQueue, database: Database
) -> None:
    world = _world(queue, database)
    repositories = RepositoryStore(database)
    assert [_summary(info) for info in repositories.list(owner_id=world.alice)] == [
        (world.repo1, world.pending.id, "pending", 1, world.alice_course),
        (world.repo2, world.dead.id, "dead", 0, None),
    ]
    bob_job = CourseStore(database).get(world.bob_course).job_id
    assert [_summary(info) for info in repositories.list(owner_id=world.bob)] == [
        (world.repo1, bob_job, "succeeded", 1, world.bob_course)
    ]
    everyone = repositories.list()
    assert [_summary(info) for info in everyone] == [
        (world.repo1, world.pending.id, "pending", 3, world.bob_course),
        (world.repo3, world.running.id, "running", 0, None),
        (world.repo2, world.dead.id, "dead", 0, None),
    ]
    running = everyone[1]
    assert (running.latest_phase, running.latest_percent, running.name) == ("mapping", 40.0, "repo3")
    assert running.source == "https://github.com/example/repo3.git" and running.kind == "github"
    assert repositories.list(owner_id=_user(database, "carol")) == []
    assert repositories.list(limit=1)[0].id == world.repo1

    assert repositories.get(world.repo2, owner_id=world.bob) is None
    assert repositories.get(world.repo3, owner_id=world.alice) is None
    found = repositories.get(world.repo1, owner_id=world.bob)
    assert found is not None and _summary(found) == (world.repo1, bob_job, "succeeded", 1, world.bob_course)
    admin = repositories.get(world.repo3)
    assert admin is not None and admin.latest_job_id == world.running.id


def test_courses_belong_to_the_owner_of_the_job_that_made_them(queue: JobQueue, database: Database) -> None:
    world = _world(queue, database)
    store = CourseStore(database)
    everyone = store.list()
    assert [(c.id, c.title, c.owner_id) for c in everyone] == [
        (world.bob_course, "bob", world.bob),
        (world.alice_course, "alice", world.alice),
        (world.op_course, "op", None),
    ]
    assert [c.id for c in store.list(owner_id=world.alice)] == [world.alice_course]
    assert [c.id for c in store.list(owner_id=world.bob, repository_id=world.repo1)] == [world.bob_course]
    assert store.list(owner_id=world.bob, repository_id=world.repo2) == []
    assert [c.id for c in store.list(repository_id=world.repo1)] == [
        world.bob_course,
        world.alice_course,
        world.op_course,
    ]
    assert store.get(world.alice_course).owner_id == world.alice
    assert store.for_job(store.get(world.op_course).job_id).owner_id is None

    assert store.document(world.alice_course, "index.md") == NewDocument("index.md", "index", "alice", 0, "# alice\n")
    assert store.document(world.alice_course, "chapters/01-a.md") == NewDocument(
        "chapters/01-a.md", "chapter", "A", 2, "# A\n"
    )
    assert store.document(world.alice_course, "missing.md") is None
    assert store.document(world.op_course, "index.md") == NewDocument("index.md", "index", "op", 0, "# op\n")
    assert store.outline(world.alice_course) == [
        ("index.md", "index", "alice"),
        ("chapters/02-b.md", "chapter", "B"),
        ("chapters/01-a.md", "chapter", "A"),
    ]
    assert store.outline(world.alice_course + 1000) == []


# ---------------------------------------------------------------------- operator figures


def test_stuck_jobs_are_running_jobs_whose_lease_expired(queue: JobQueue) -> None:
    stats = QueueStats(queue.db)
    expired = _claimed(queue, 1, None)
    queue.enqueue(source(2))  # pending: never stuck
    assert stats.stuck() == []
    advance_clock(queue.db, LEASE + 1)
    alive = _claimed(queue, 3, None)  # claimed after the clock moved: its lease still runs
    assert _ids(stats.stuck()) == [expired.job_id]
    queue.heartbeat(alive, lease_seconds=LEASE)
    assert _ids(stats.stuck(limit=5)) == [expired.job_id]
    assert _ids(queue.reclaim_expired()) == [expired.job_id]
    assert stats.stuck() == []


def test_failures_are_counted_by_kind_within_the_window(queue: JobQueue) -> None:
    stats = QueueStats(queue.db)
    queue.fail(_claimed(queue, 1, None), ErrorKind.AUTH, "token refused")
    time.sleep(WINDOW + 0.1)  # events are append-only: the window is tested by letting that one age
    for n in (2, 3):  # two transient failures, each retried later (failed, not dead)
        assert queue.fail(_claimed(queue, n, None), ErrorKind.TRANSIENT, "clone timed out").status is JobStatus.FAILED
    assert queue.fail(_claimed(queue, 4, None), ErrorKind.PERMANENT, "not found").status is JobStatus.DEAD
    queue.complete(_claimed(queue, 5, None), {})  # successes and cancels are no failures
    queue.fail(_claimed(queue, 6, None), ErrorKind.CANCELED, "canceled by request")
    _claimed(queue, 7, None)  # its worker vanishes: the reaper takes it back
    advance_clock(queue.db, LEASE + 1)
    assert len(queue.reclaim_expired()) == 1

    assert stats.failures_by_kind(WINDOW) == [
        FailureCount("transient", 2),
        FailureCount("permanent", 1),
        FailureCount("lease_expired", 1),
    ]
    assert FailureCount("auth", 1) in stats.failures_by_kind(3600)


def test_a_reclaim_with_no_attempts_left_counts_as_lease_expired(queue: JobQueue) -> None:
    lease = Lease(queue.enqueue(source(1), claim_as="w1", lease_seconds=LEASE, max_attempts=1).job)
    advance_clock(queue.db, LEASE + 1)
    (job,) = queue.reclaim_expired()
    assert (job.id, job.status, job.error_kind) == (lease.job_id, JobStatus.DEAD, ErrorKind.LEASE_EXPIRED)
    assert QueueStats(queue.db).failures_by_kind(3600) == [FailureCount("lease_expired", 1)]


# ---------------------------------------------------------------------- migration


def _upgrade(database: Database, revision: str) -> None:
    """Run the Alembic scripts up to `revision` only, as an older release left the database."""

    def upgrade(conn: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)

    database.write(upgrade)


def _insert_job_as_release_0002(database: Database) -> int:
    """A pending job written the way the previous release wrote it (no owner column to fill)."""
    now = database.dialect.now
    spec = source(1)

    def insert(conn: Connection) -> int:
        repository_id = conn.execute(
            text(
                "INSERT INTO repositories (source, kind, name, web_url, created_at, updated_at) "
                f"VALUES (:source, :kind, :name, :web_url, {now}, {now}) RETURNING id"
            ),
            {"source": spec.canonical, "kind": spec.kind.value, "name": spec.name, "web_url": spec.web_url},
        ).scalar_one()
        key = hashlib.sha256(canonical_json([repository_id, None, {}]).encode()).hexdigest()
        return conn.execute(
            text(
                "INSERT INTO jobs (repository_id, ref, options, dedupe_key, status, priority, run_at, attempts, "
                "max_attempts, lease_token, cancel_requested, created_at, updated_at) "
                f"VALUES (:repository_id, NULL, '{{}}', :key, 'pending', 0, {now}, 0, 3, 0, FALSE, {now}, {now}) "
                "RETURNING id"
            ),
            {"repository_id": repository_id, "key": key},
        ).scalar_one()

    return database.write(insert)


def _partial_index_predicates(database: Database) -> dict[str, str]:
    """Each index of `jobs` and its WHERE clause ('' for a full index), as the database itself reports it."""
    if database.is_sqlite:
        query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL"
    else:
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'jobs'"
    rows = database.read(lambda conn: conn.execute(text(query)).all())
    return {name: sql.upper().partition(" WHERE ")[2] for name, sql in rows}


def test_a_database_from_revision_0002_keeps_its_jobs_and_indexes(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    _upgrade(database, "0002")
    assert migrations_runner.schema_status(database).current == "0002"
    job_id = _insert_job_as_release_0002(database)
    before = _partial_index_predicates(database)
    assert all(before[name] for name in PARTIAL_INDEXES), before

    assert migrations_runner.migrate(database).current == HEAD
    after = _partial_index_predicates(database)
    assert {name: after.get(name) for name in PARTIAL_INDEXES} == {name: before[name] for name in PARTIAL_INDEXES}
    assert "ix_jobs_owner" in after
    columns = database.read(lambda conn: {c["name"]: c for c in inspect(conn).get_columns("jobs")})
    assert columns["owner_id"]["nullable"]
    foreign_keys = database.read(lambda conn: inspect(conn).get_foreign_keys("jobs"))
    assert any(fk["referred_table"] == "users" and fk["constrained_columns"] == ["owner_id"] for fk in foreign_keys)

    queue = JobQueue(database)
    job = queue.get(job_id)
    assert (job.status, job.owner_id) == (JobStatus.PENDING, None)
    again = queue.enqueue(source(1))  # the operator's same request still finds the job queued before the upgrade
    assert (again.created, again.job.id) == (False, job_id)
    assert queue.enqueue(source(1), owner_id=_user(database, "alice")).created
    (lease,) = queue.claim("w1", lease_seconds=LEASE)  # the claim walks ix_jobs_ready (INDEXED BY on SQLite)
    assert lease.job_id == job_id
    database.dispose()

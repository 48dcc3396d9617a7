"""The post-incident report: the runbook's template, pre-filled from what the event logs recorded.

Everything a machine can know is filled in from `job_events`, `auth_events` and the worker registry:
when things went wrong and right again, which jobs were hurt and how each ended, the timeline (first
failure, workers lost and back, reclaims, requeues, pauses and lockdowns, recoveries), the error kinds.
What only people know (the root cause, what they did and learned) is left as marked placeholders.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from fondation.domain.jobs import ErrorKind, EventKind, JobStatus
from fondation.ops.audit import OPERATOR_EVENTS, QUEUE_PAUSED, QUEUE_RESUMED, SECRET_KEY_ROTATED, SECURITY_LOCKDOWN
from fondation.queue import JobQueue, WorkerInfo, WorkerRegistry
from fondation.store.schema import auth_events, job_events

#: Job events that say something went wrong with a job.
_TROUBLE = {EventKind.FAILED, EventKind.DEAD, EventKind.RECLAIMED, EventKind.REQUEUED, EventKind.RETRIED}
#: Outcomes of an affected job, by the status it had at the end of the window, in report order.
OUTCOMES = ("succeeded after retry", "dead", "canceled", "still pending")
_OUTCOME_OF = {JobStatus.SUCCEEDED: OUTCOMES[0], JobStatus.DEAD: OUTCOMES[1], JobStatus.CANCELED: OUTCOMES[2]}
#: What happened to a job after its trouble, as timeline entries.
_AFTERMATH = {
    EventKind.CLAIMED: "job {job} claimed again by {actor} (attempt {attempt})",
    EventKind.SUCCEEDED: "job {job} recovered: succeeded on attempt {attempt} ({actor})",
    EventKind.CANCELED: "job {job} canceled by {actor}",
    EventKind.RELEASED: "job {job} handed back by {actor}: {reason}",
}
_ENTRY_KIND = {
    EventKind.FAILED: "failure",
    EventKind.DEAD: "dead",
    EventKind.RECLAIMED: "reclaim",
    EventKind.REQUEUED: "requeue",
    EventKind.RETRIED: "requeue",
    EventKind.CLAIMED: "claim",
    EventKind.SUCCEEDED: "recovery",
    EventKind.CANCELED: "canceled",
    EventKind.RELEASED: "released",
}
#: Timeline entries that are context (a routine start or stop), not part of the incident's duration.
_CONTEXT_ENTRIES = {"worker_started", "worker_stopped"}
_LOST_WORKER = re.compile(r"\(worker ([^)]*)\)")
#: The runbook's post-incident checklist.
CHECKLIST = (
    "Create incident report",
    "Update runbook if new issue",
    "Review monitoring gaps",
    "Update alerting rules",
    "Schedule post-mortem meeting",
    "Implement preventive measures",
    "Test recovery procedures",
    "Update documentation",
)
_MESSAGE_CLIP = 300


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: str
    text: str
    job_id: int | None = None


@dataclass(frozen=True, slots=True)
class AffectedJob:
    id: int
    source: str
    outcome: str
    status: str
    attempts: int
    error_kind: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What the logs say about one window of time; `start`/`end` bound its abnormal events (None: none)."""

    since: datetime
    until: datetime
    severity: str | None
    start: datetime | None
    end: datetime | None
    jobs: list[AffectedJob]
    timeline: list[TimelineEntry]
    error_kinds: dict[str, int]

    def outcome_counts(self) -> dict[str, int]:
        counts = Counter(job.outcome for job in self.jobs)
        return {outcome: counts[outcome] for outcome in OUTCOMES}


def error_kind_of(kind: EventKind, reason: str | None) -> str:
    """The error kind a failure event stands for: a holder's reason starts with it (`transient: …`);
    a reclaim, or an end written for a holder that is gone, is `lease_expired`."""
    head = (reason or "").split(":", 1)[0].strip()
    if kind is EventKind.RECLAIMED or head not in ErrorKind.__members__.values():
        return ErrorKind.LEASE_EXPIRED.value
    return head


def _clip(text: str | None) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= _MESSAGE_CLIP else flat[: _MESSAGE_CLIP - 1] + "…"


class _Gatherer:
    """Reads the window once and builds the facts, a concern at a time."""

    def __init__(self, queue: JobQueue, since: datetime, until: datetime, lease_seconds: float) -> None:
        self.queue = queue
        self.since, self.until = since, until
        self.lease_seconds = lease_seconds
        in_window = (job_events.c.created_at >= since) & (job_events.c.created_at <= until)
        kinds = [kind.value for kind in EventKind if kind not in (EventKind.PROGRESS, EventKind.ENQUEUED)]
        query = select(job_events).where(in_window, job_events.c.kind.in_(kinds))
        self.events = queue.db.read(
            lambda conn: list(conn.execute(query.order_by(job_events.c.created_at, job_events.c.id)).mappings())
        )
        self.timeline: list[TimelineEntry] = []

    def affected(self) -> list[AffectedJob]:
        """Jobs with trouble in the window, with how each stood when the window closed."""
        troubled = list(dict.fromkeys(e["job_id"] for e in self.events if EventKind(e["kind"]) in _TROUBLE))
        final = {e["job_id"]: JobStatus(e["to_status"]) for e in self.events if e["to_status"]}
        jobs = {job.id: job for job in self.queue.get_many(troubled)}
        found = []
        for job_id in troubled:
            job = jobs[job_id]
            status = final.get(job_id, job.status)
            found.append(
                AffectedJob(
                    id=job_id,
                    source=job.source,
                    outcome=_OUTCOME_OF.get(status, OUTCOMES[3]),
                    status=status.value,
                    attempts=job.attempts,
                    error_kind=job.error_kind.value if job.error_kind else None,
                    error=_clip(job.error_message) or None,
                )
            )
        order = {outcome: index for index, outcome in enumerate(OUTCOMES)}
        return sorted(found, key=lambda job: (order[job.outcome], job.id))

    def error_kinds(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for event in self.events:
            kind = EventKind(event["kind"])
            if kind in (EventKind.FAILED, EventKind.DEAD, EventKind.RECLAIMED):
                counts[error_kind_of(kind, event["reason"])] += 1
        return dict(counts.most_common())

    def add(self, at: datetime, kind: str, text: str, job_id: int | None = None) -> None:
        self.timeline.append(TimelineEntry(at, kind, text, job_id))

    def job_entries(self) -> None:
        """Each job's trouble, and what became of the job afterwards (claimed again, recovered, ended)."""
        in_trouble: set[int] = set()
        for event in self.events:
            kind, job_id, actor = EventKind(event["kind"]), event["job_id"], event["actor"]
            attempt, reason = event["attempt"], _clip(event["reason"])
            if kind is EventKind.FAILED:
                text = f"job {job_id} attempt {attempt} failed on {actor}, retry scheduled: {reason}"
            elif kind is EventKind.DEAD:
                text = f"job {job_id} dead after attempt {attempt} ({actor}): {reason}"
            elif kind is EventKind.RECLAIMED:
                text = f"job {job_id} reclaimed by {actor}: {reason}"
            elif kind in (EventKind.REQUEUED, EventKind.RETRIED):
                text = f"job {job_id} {kind.value} by {actor} ({event['from_status']} → pending)"
            elif job_id not in in_trouble or kind not in _AFTERMATH:
                continue
            else:
                text = _AFTERMATH[kind].format(job=job_id, actor=actor, attempt=attempt, reason=reason)
            in_trouble.add(job_id)
            self.add(event["created_at"], _ENTRY_KIND[kind], text, job_id)

    def worker_entries(self) -> None:
        """Workers lost (their leases reclaimed, or silent now) and back (restarted, or claiming again)."""
        registry = {info.id: info for info in WorkerRegistry(self.queue.db).list()}
        lost_at: dict[str, datetime] = {}
        for event in self.events:
            if EventKind(event["kind"]) is EventKind.RECLAIMED:
                for worker_id in _LOST_WORKER.findall(event["reason"] or ""):
                    lost_at.setdefault(worker_id, self._last_heard(worker_id, event["created_at"], registry))
        for info in registry.values():
            seen = info.last_seen_at
            if info.id in lost_at or not self.since <= seen <= self.until:
                continue
            if info.status == "stopped":
                self.add(seen, "worker_stopped", f"worker {info.id} stopped (shut down on {info.hostname})")
            elif (self.until - seen).total_seconds() > self.lease_seconds:
                lost_at[info.id] = seen
        for worker_id, at in lost_at.items():
            self.add(at, "worker_lost", f"worker {worker_id} lost: last heard of at {format_time(at)}")
        for info in registry.values():
            if not self.since <= info.started_at <= self.until:
                continue
            if info.id in lost_at and info.started_at > lost_at[info.id]:
                self.add(info.started_at, "worker_back", f"worker {info.id} back: started on {info.hostname}")
            else:
                text = f"worker {info.id} started on {info.hostname} (version {info.version})"
                self.add(info.started_at, "worker_started", text)
        for worker_id, at in lost_at.items():
            info = registry.get(worker_id)
            if info is not None and at < info.started_at <= self.until:
                continue  # its restart is already in
            later = [e for e in self.events if e["kind"] == EventKind.CLAIMED.value and e["actor"] == worker_id]
            back = next((e for e in later if e["created_at"] > at), None)
            if back is not None:
                self.add(back["created_at"], "worker_back", f"worker {worker_id} back: claimed job {back['job_id']}")

    def _last_heard(self, worker_id: str, reclaimed_at: datetime, registry: dict[str, WorkerInfo]) -> datetime:
        """When a worker whose lease was reclaimed was last heard of: its last heartbeat if the registry
        still holds it (the worker has not been restarted since), else its last event in the window."""
        info = registry.get(worker_id)
        if info is not None and info.last_seen_at <= reclaimed_at:
            return info.last_seen_at
        query = select(func.max(job_events.c.created_at)).where(
            job_events.c.actor == worker_id, job_events.c.created_at.between(self.since, reclaimed_at)
        )
        heard: datetime | None = self.queue.db.read(lambda conn: conn.execute(query).scalar())
        return heard or reclaimed_at

    def operator_entries(self) -> None:
        """Pauses, resumes, lockdowns and key rotations, from the auth event log."""
        query = (
            select(auth_events)
            .where(
                auth_events.c.kind.in_(OPERATOR_EVENTS),
                auth_events.c.created_at >= self.since,
                auth_events.c.created_at <= self.until,
            )
            .order_by(auth_events.c.created_at, auth_events.c.id)
        )
        labels = {
            QUEUE_PAUSED: "queue paused",
            QUEUE_RESUMED: "queue resumed",
            SECURITY_LOCKDOWN: "security lockdown",
            SECRET_KEY_ROTATED: "secret key rotated",
        }
        for row in self.queue.db.read(lambda conn: list(conn.execute(query).mappings())):
            detail = f": {row['detail']}" if row["detail"] else ""
            self.add(row["created_at"], "operator", f"{labels[row['kind']]} by {row['user_name']}{detail}")


def gather(
    queue: JobQueue, *, since: datetime, until: datetime, lease_seconds: float, severity: str | None = None
) -> IncidentFacts:
    """The facts of the window `since`..`until` (both included)."""
    gatherer = _Gatherer(queue, since, until, lease_seconds)
    jobs = gatherer.affected()
    gatherer.job_entries()
    gatherer.worker_entries()
    gatherer.operator_entries()
    timeline = sorted(gatherer.timeline, key=lambda entry: entry.at)
    incident = [entry.at for entry in timeline if entry.kind not in _CONTEXT_ENTRIES]
    return IncidentFacts(
        since=since,
        until=until,
        severity=severity,
        start=min(incident, default=None),
        end=max(incident, default=None),
        jobs=jobs,
        timeline=timeline,
        error_kinds=gatherer.error_kinds(),
    )


def format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|")


def render_markdown(facts: IncidentFacts) -> str:
    """The runbook's "Incident Report Template", filled in; `_TO WRITE: …_` marks what people must add."""
    day = (facts.start or facts.since).strftime("%Y-%m-%d")
    lines = [f"# Incident Report - {day}", "", "## Summary"]
    if facts.start is None or facts.end is None:
        lines.append("- **Duration**: no abnormal event recorded in the window examined")
    else:
        span = _duration((facts.end - facts.start).total_seconds())
        lines.append(f"- **Duration**: {format_time(facts.start)} - {format_time(facts.end)} ({span})")
    counts = facts.outcome_counts()
    breakdown = ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
    lines.append(f"- **Impact**: {len(facts.jobs)} job{'s' if len(facts.jobs) != 1 else ''} affected ({breakdown})")
    lines.append(f"- **Severity**: {facts.severity or '_TO WRITE: P1/P2/P3/P4_'}")
    lines.append(f"- **Window examined**: {format_time(facts.since)} - {format_time(facts.until)}")
    lines += ["", "### Jobs affected", ""]
    if facts.jobs:
        lines += ["| Outcome | Job | Status | Attempts | Source | Last error |", "|---|---|---|---|---|---|"]
        for job in facts.jobs:
            error = f"{job.error_kind}: {job.error}" if job.error_kind else ""
            lines.append(
                f"| {job.outcome} | {job.id} | {job.status} | {job.attempts} | {_cell(job.source)} | {_cell(error)} |"
            )
    else:
        lines.append("No job had a failure, a reclaim or a requeue in the window.")
    lines += ["", "### Error kinds", ""]
    if facts.error_kinds:
        lines += ["| Kind | Attempts ended |", "|---|---|"]
        lines += [f"| {kind} | {count} |" for kind, count in facts.error_kinds.items()]
    else:
        lines.append("No attempt failed in the window.")
    lines += ["", "## Timeline", ""]
    first_trouble = next((e for e in facts.timeline if e.kind in ("failure", "dead", "reclaim", "worker_lost")), None)
    for entry in facts.timeline:
        prefix = "First failure: " if entry is first_trouble else ""
        lines.append(f"- {format_time(entry.at)} - {prefix}{_cell(entry.text)}")
    if not facts.timeline:
        lines.append("- No event recorded in the window.")
    lines += [
        "- _TO WRITE: HH:MM - Issue detected_",
        "- _TO WRITE: HH:MM - Investigation started_",
        "- _TO WRITE: HH:MM - Root cause identified_",
        "- _TO WRITE: HH:MM - Fix applied_",
        "- _TO WRITE: HH:MM - Service restored_",
        "",
        "## Root Cause",
        "_TO WRITE: a detailed explanation of what failed and why._",
        "",
        "## Resolution",
        "_TO WRITE: the steps taken to resolve it (the commands run, in order)._",
        "",
        "## Lessons Learned",
        "- What went well: _TO WRITE_",
        "- What could be improved: _TO WRITE_",
        "",
        "## Action Items",
        "- [ ] _TO WRITE: task 1_",
        "- [ ] _TO WRITE: task 2_",
        "",
        "## Post-Incident Checklist",
        "",
    ]
    lines += [f"- [ ] {item}" for item in CHECKLIST]
    return "\n".join(lines) + "\n"

"""The job protocol on top of the store: the only place that changes a job's status."""

from fondation.queue.jobs import EnqueueResult, HeartbeatReply, JobQueue
from fondation.queue.retry import RetryPolicy
from fondation.queue.workers import WorkerInfo, WorkerRegistry

__all__ = ["EnqueueResult", "HeartbeatReply", "JobQueue", "RetryPolicy", "WorkerInfo", "WorkerRegistry"]

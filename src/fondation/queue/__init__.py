"""The job protocol on top of the store: the only place that changes a job's status."""

from fondation.queue.jobs import EnqueueResult, HeartbeatReply, JobQueue
from fondation.queue.retry import RetryPolicy

__all__ = ["EnqueueResult", "HeartbeatReply", "JobQueue", "RetryPolicy"]

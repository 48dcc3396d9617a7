"""The exceptions every layer may raise, so the faces can turn them into one-line messages.

Each carries a message written for the person who will read it (a user at a terminal, an operator
reading a log), never a traceback.
"""

from __future__ import annotations

from fondation.domain.jobs import ErrorKind


class FondationError(Exception):
    """Base of every error Fondation reports to a user as a one-line message."""


class ConfigError(FondationError):
    """The configuration is invalid; the message names the variable to fix."""


class DatabaseError(FondationError):
    """The database cannot be reached or used (unreachable, wrong schema, locked too long)."""


class SchemaTooNewError(DatabaseError):
    """The database was migrated by a newer Fondation than this one; refusing to touch it."""


class SchemaOutdatedError(DatabaseError):
    """The database schema is older than this Fondation; `fondation db migrate` brings it up."""


class InvalidSourceError(FondationError):
    """A source string (git URL, owner/repo, local path) is malformed or unsafe."""


class JobNotFoundError(FondationError):
    """No job has the given id."""


class JobStateError(FondationError):
    """The requested operation does not apply to the job in its current state."""


class LeaseLostError(FondationError):
    """A fenced write matched no row: another worker owns the job now, or it left `running`.

    The holder of a lost lease must stop the job at once and write nothing more.
    """

    def __init__(self, job_id: int, lease_token: int) -> None:
        super().__init__(f"lease on job {job_id} (token {lease_token}) is no longer held")
        self.job_id = job_id
        self.lease_token = lease_token


class WorkerIdInUseError(FondationError):
    """Another live worker already runs under this worker id."""


class ClassifiedError(FondationError):
    """A failure whose cause is known well enough to decide between a retry and `dead`.

    Raised by the generator's layers (sources, code map, providers, pipeline), which know nothing of
    the queue: the worker's child turns `kind` into the job's error kind, and a face shows `message`.
    The message is masked of secrets before it is built, never after.
    """

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class SourceError(ClassifiedError):
    """A source could not be fetched or accepted: not found, no access, too big, network trouble."""

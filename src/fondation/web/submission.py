"""Submitting a generation from the web (form or API): validate every field, then enqueue for the user.

Each refusal names the field it is about, so the form shows it beside that field and the API answers
422 with the field's location, the way FastAPI reports its own validation errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from fondation.domain.errors import ConfigError, InvalidSourceError
from fondation.domain.sources import SourceKind
from fondation.domain.users import User
from fondation.pipeline.options import generation_options
from fondation.queue.jobs import EnqueueResult
from fondation.sources import validate_ref
from fondation.sources.acquire import parse_configured
from fondation.web.context import WebContext


class SubmissionError(Exception):
    """A field of the submission is unacceptable."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Submission:
    source: str
    ref: str | None = None
    language: str = "en"
    provider: str | None = None
    max_chapters: int = 10


def submit(context: WebContext, user: User, submission: Submission, *, force: bool = False) -> EnqueueResult:
    """Queue the generation for `user` (or return their active job that already stands for it)."""
    source = submission.source.strip()
    if not source:
        raise SubmissionError("source", "give a git URL or owner/repo")
    try:
        spec = parse_configured(source, context.settings)
    except InvalidSourceError as error:
        raise SubmissionError("source", str(error)) from None
    if spec.kind in (SourceKind.LOCAL, SourceKind.ARCHIVE) and not user.is_admin:
        raise SubmissionError("source", "local paths and archives on the server are for admins: give a git URL")
    ref = (submission.ref or "").strip() or None
    if ref is not None:
        try:
            ref = validate_ref(ref)
        except InvalidSourceError as error:
            raise SubmissionError("ref", str(error)) from None
    try:
        options = generation_options(
            context.settings,
            language=submission.language,
            max_chapters=submission.max_chapters,
            provider=submission.provider or None,
            model=None,
            parallel=None,
            budget_usd=None,
            max_tokens=None,
        )
    except ConfigError as error:
        message = str(error)
        field = next((name for name in ("language", "provider", "max_chapters") if name.split("_")[0] in message), "")
        raise SubmissionError(field or "options", message) from None
    return context.queue.enqueue(
        spec, ref=ref, options=options.to_dict(), owner_id=user.id, actor=f"web:{user.name}", force=force
    )

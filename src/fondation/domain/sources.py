"""What a submitted source is, once its shape has been understood (parsing lives in `sources`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SourceKind(StrEnum):
    GIT = "git"
    GITHUB = "github"
    LOCAL = "local"
    ARCHIVE = "archive"


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A source in canonical form: equal repositories give equal `canonical` strings."""

    kind: SourceKind
    canonical: str
    name: str
    web_url: str | None = None

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


#: Directory names that hold someone else's code or a build's output, whatever .gitignore says.
VENDORED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        "vendor",
        "third_party",
        "third-party",
        "thirdparty",
        "dist",
        "build",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".nox",
        ".eggs",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".next",
        ".nuxt",
        ".gradle",
        ".idea",
        "Pods",
        "site-packages",
        "coverage",
        "htmlcov",
    }
)

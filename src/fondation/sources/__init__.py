"""Sources: what a user submits (git URL, GitHub owner/repo, local directory or archive), understood."""

from fondation.sources.spec import parse_source, validate_ref

__all__ = ["parse_source", "validate_ref"]

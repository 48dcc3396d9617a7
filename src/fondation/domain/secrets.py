"""Masking of secrets in any text before it is logged, stored in an event or shown to a user.

Errors from git, HTTP clients and LLM providers like to echo the credential that failed. Everything
that leaves the process through a log line, a job_event, an error message or a course goes through
`mask_secrets` first.
"""

from __future__ import annotations

import re

MASK = "****"

_PATTERNS = [
    # user:password@ in URLs
    re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+(?=@)", re.IGNORECASE),
    # GitHub tokens (classic, fine-grained, app, OAuth), Anthropic / OpenAI keys, Slack, AWS access keys
    re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"\bsk-(?:ant-)?[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    # Fondation's own API tokens and login links
    re.compile(r"\bfdn_[A-Za-z0-9_-]{20,}"),
    # Authorization headers and key=value pairs that name a secret
    re.compile(r"(?P<keep>\b(?:bearer|token|basic)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE),
    re.compile(
        r"(?P<keep>\b[A-Za-z_]*(?:password|passwd|secret|token|api_key|apikey)[A-Za-z_]*\s*[=:]\s*)[^\s,;'\"]+",
        re.IGNORECASE,
    ),
]


def mask_secrets(text: str) -> str:
    """Replace every token-shaped or credential-shaped substring of `text` by a mask."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.groupdict().get("keep") or "") + MASK, text)
    return text

"""Secret masking: every token-shaped string is replaced before it is logged, stored or shown."""

from __future__ import annotations

import pytest

from fondation.domain.secrets import MASK, mask_secrets


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            "fatal: could not read from https://alice:ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/a/b",
            "ghp_abcdefghijklmnopqrstuvwxyz0123",
        ),
        ("token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv leaked", "github_pat_11ABCDEFG0123456789"),
        ("401 for key sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"),
        ("openai key sk-proj-ABCDEFGHIJKLMNOPQRSTUV", "sk-proj-ABCDEFGHIJKLMNOPQRSTUV"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9.payload.sig"),
        ("postgresql://fondation:hunter2@db:5432/x unreachable", "hunter2"),
        ("GITHUB_TOKEN=abc123def456 in env", "abc123def456"),
        ("password: s3cr3t!", "s3cr3t!"),
        ("aws AKIAABCDEFGHIJKLMNOP found", "AKIAABCDEFGHIJKLMNOP"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    masked = mask_secrets(text)
    assert secret not in masked
    assert MASK in masked


def test_ordinary_text_is_left_alone() -> None:
    text = "cloning https://github.com/pallets/flask.git at 3f2a9c1 (step 1/6, 12% done)"
    assert mask_secrets(text) == text

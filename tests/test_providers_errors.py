"""The classification every provider shares: HTTP statuses, wait hints, masking of credentials."""

from __future__ import annotations

import pytest

from fondation.domain.jobs import ErrorKind
from fondation.providers.errors import kind_for_status, masked, retry_after_seconds


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, ErrorKind.AUTH),
        (402, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (408, ErrorKind.TRANSIENT),
        (429, ErrorKind.TRANSIENT),
        (500, ErrorKind.TRANSIENT),
        (503, ErrorKind.TRANSIENT),
        (529, ErrorKind.TRANSIENT),
        (400, ErrorKind.PERMANENT),
        (404, ErrorKind.PERMANENT),
        (413, ErrorKind.PERMANENT),
        (422, ErrorKind.PERMANENT),
    ],
)
def test_status_kinds(status: int, kind: ErrorKind) -> None:
    assert kind_for_status(status) is kind


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),
        ({"retry-after": "whenever"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], seconds: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_seconds(headers, now=now) == seconds


def test_masking_by_pattern_and_by_value() -> None:
    text = "key local-secret-value rejected; also sk-ant-api03-abcdefghijklmnopqrstuv and token=xyz123"
    shown = masked(text, ["local-secret-value", None, ""])
    assert "local-secret-value" not in shown and "abcdefghijklmnop" not in shown and "xyz123" not in shown
    assert shown.startswith("key **** rejected")

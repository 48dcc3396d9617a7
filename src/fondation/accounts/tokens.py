"""Random credentials (API tokens, login links, session ids) and the hashes they are stored under.

256 random bits need no slow hash: SHA-256 of the value is enough to make a database dump useless,
and lets a lookup be one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets

#: Prefix of every bearer token and login link: recognisable in a leak report, and masked in logs.
TOKEN_PREFIX = "fdn_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()

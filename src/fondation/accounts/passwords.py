"""Password hashing with argon2id, a memory-hard KDF: a stolen hash costs an attacker real memory per guess.

The parameters are argon2-cffi's defaults (RFC 9106's second recommended set: 64 MiB, 3 passes);
a hash made under older parameters is upgraded at the next successful login.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
    Made on first use: a hash costs 64 MiB and tens of milliseconds every process would pay at import."""
    return _HASHER.hash("fondation: no such user")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored`; always does the full work, even when nothing is stored."""
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)

"""Encryption at rest of the secrets Fondation keeps for users (their GitHub tokens).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key derived from
`FONDATION_SECRET_KEY`. Without that setting, a random key is created once in the data directory
(mode 600): enough on one machine, but every web and worker process sharing a database must be given
the same `FONDATION_SECRET_KEY`. The same key signs session cookies.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from fondation.domain.errors import ConfigError

KEY_FILE_NAME = "secret.key"


def _fernet(secret: str) -> Fernet:
    """Any string works as a secret: it is stretched to Fernet's 32-byte key by SHA-256."""
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"fondation-secretbox:{secret}".encode()).digest()))


def load_or_create_key(path: Path) -> str:
    """The secret in `path`, created (random, mode 600) if the file does not exist yet."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(value + "\n")
    return value


class SecretBox:
    """Encrypts under the current secret; decrypts under it or any older one (during a key rotation)."""

    def __init__(self, secret: str, *older: str) -> None:
        if not secret:
            raise ConfigError("FONDATION_SECRET_KEY: must not be empty")
        self._box = MultiFernet([_fernet(secret), *(_fernet(old) for old in older)])

    def encrypt(self, plaintext: str) -> str:
        return self._box.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext; a `ConfigError` when no known key opens it (the key was changed without a rotation)."""
        try:
            return self._box.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise ConfigError(
                "a stored secret cannot be decrypted with FONDATION_SECRET_KEY: the key changed without "
                "`fondation security rotate-key`"
            ) from None

    def rotate(self, ciphertext: str) -> str:
        """The same plaintext, encrypted under the current secret."""
        return self._box.rotate(ciphertext.encode("ascii")).decode("ascii")

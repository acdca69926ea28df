"""API keys: ``sark_<key id>_<secret>``, stored as HMAC-SHA256(pepper, secret).

The key id has a fixed length over a fixed alphabet, so the split is unambiguous whatever
characters the secret contains (underscores included).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Final

PREFIX: Final = "sark_"
KEY_ID_LENGTH: Final = 16
KEY_ID_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case
_KEY_ID: Final = re.compile(rf"^[{KEY_ID_ALPHABET}]{{{KEY_ID_LENGTH}}}$")
_SECRET_START: Final = len(PREFIX) + KEY_ID_LENGTH + 1
MAX_KEY_LENGTH: Final = 512


def new_key_id() -> str:
    """A random key id (80 bits)."""
    return "".join(secrets.choice(KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))


def format_api_key(key_id: str, secret: str) -> str:
    """The presented form of a key."""
    if not _KEY_ID.match(key_id) or not secret:
        msg = "invalid key id or empty secret"
        raise ValueError(msg)
    return f"{PREFIX}{key_id}_{secret}"


def parse_api_key(value: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a presented key, or None when it is not one."""
    if (
        len(value) <= _SECRET_START
        or len(value) > MAX_KEY_LENGTH
        or not value.startswith(PREFIX)
        or value[_SECRET_START - 1] != "_"
    ):
        return None
    key_id = value[len(PREFIX) : _SECRET_START - 1]
    if not _KEY_ID.match(key_id):
        return None
    return key_id, value[_SECRET_START:]


def generate_api_key() -> tuple[str, str, str]:
    """A new ``(key_id, secret, presented key)``."""
    key_id = new_key_id()
    secret = secrets.token_urlsafe(32)
    return key_id, secret, format_api_key(key_id, secret)


class ApiKeyHasher:
    """Keyed hash of API-key secrets (microseconds, unlike a password hash)."""

    __slots__ = ("_pepper",)

    def __init__(self, pepper: str) -> None:
        self._pepper = pepper.encode()

    def digest(self, secret: str) -> bytes:
        """HMAC-SHA256 of ``secret`` under the pepper."""
        return hmac.digest(self._pepper, secret.encode(), hashlib.sha256)

    def hexdigest(self, secret: str) -> str:
        """The digest as stored in the database."""
        return self.digest(secret).hex()

    def matches(self, secret: str, stored: bytes) -> bool:
        """Constant-time comparison of ``secret``'s digest with ``stored``."""
        return hmac.compare_digest(self.digest(secret), stored)

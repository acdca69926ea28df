"""Password hashing with argon2id (argon2-cffi), run off the event loop."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


class PasswordHasher:
    """Hashes and verifies passwords; a hash costs tens of milliseconds by design."""

    def __init__(self, time_cost: int = 3, memory_cost: int = 65_536, parallelism: int = 4) -> None:
        self._argon = _Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password``."""
        return await anyio.to_thread.run_sync(self._argon.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; costs the same when there is no hash."""
        if stored is None:
            # Spend the same time for unknown users so timing does not reveal who exists.
            if self._dummy is None:
                self._dummy = await self.hash("sark-dummy-password")
            stored = self._dummy
            password = password + "\x00"
        return await anyio.to_thread.run_sync(self._verify, stored, password)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return bool(self._argon.verify(stored, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with weaker parameters than the current ones."""
        return bool(self._argon.check_needs_rehash(stored))

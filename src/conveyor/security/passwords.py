"""argon2id hashing of passwords and node secrets.

Hashing costs tens of milliseconds of CPU on purpose; the async variants run it in a
thread so one login does not stall every other request on the event loop.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class SecretHasher:
    def __init__(self, memory_kib: int = 19456, time_cost: int = 2, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        # Verifying against this makes an unknown name cost as much as a wrong password.
        self._dummy = self._hasher.hash("conveyor-dummy-secret")

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, hashed: str, secret: str) -> bool:
        try:
            return self._hasher.verify(hashed, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """Whether a hash was made with other costs than today's settings."""
        try:
            return self._hasher.check_needs_rehash(hashed)
        except InvalidHashError:
            return True

    async def ahash(self, secret: str) -> str:
        return await asyncio.to_thread(self.hash, secret)

    async def averify(self, hashed: str, secret: str) -> bool:
        return await asyncio.to_thread(self.verify, hashed, secret)

    async def adummy_verify(self, secret: str) -> None:
        await asyncio.to_thread(self.verify, self._dummy, secret)

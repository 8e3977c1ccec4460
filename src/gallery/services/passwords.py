"""Password hashing with Argon2id, always off the event loop."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


async def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (deliberately slow: runs in a thread)."""
    return await asyncio.to_thread(_hasher().hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (in a thread)."""
    return await asyncio.to_thread(_verify, password_hash, password)


# Verified against when no account matches, so that a wrong username takes as
# long as a wrong password and response times do not reveal who has an account.
_DUMMY_HASH: str | None = None


async def waste_time_like_a_verification(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = await hash_password("not-a-real-password")
    await verify_password(_DUMMY_HASH, password)

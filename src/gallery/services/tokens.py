"""Single-use, expiring tokens kept in Redis (activation, password reset)."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

import redis.asyncio as aioredis


class TokenPurpose(StrEnum):
    ACTIVATE = "activate"
    RESET_PASSWORD = "reset-password"  # noqa: S105 - a purpose, not a password


TOKEN_TTL_SECONDS = {
    TokenPurpose.ACTIVATE: 48 * 3600,
    TokenPurpose.RESET_PASSWORD: 3600,
}


def _key(purpose: TokenPurpose, token: str) -> str:
    # Only a hash of the token is stored: reading Redis does not give working links.
    return f"token:{purpose}:{hashlib.sha256(token.encode()).hexdigest()}"


async def issue_token(redis: aioredis.Redis, purpose: TokenPurpose, user_id: int) -> str:
    """A random token (unrelated to the user id) that maps to ``user_id`` until it expires."""
    token = secrets.token_urlsafe(32)
    await redis.set(_key(purpose, token), str(user_id), ex=TOKEN_TTL_SECONDS[purpose])
    return token


async def consume_token(redis: aioredis.Redis, purpose: TokenPurpose, token: str) -> int | None:
    """The user id the token was issued for, and the token is gone (GETDEL: works once)."""
    if not token or len(token) > 200:
        return None
    value = await redis.getdel(_key(purpose, token))
    return int(value) if value is not None else None


async def peek_token(redis: aioredis.Redis, purpose: TokenPurpose, token: str) -> int | None:
    """The user id of a live token without using it up (to show the reset form)."""
    if not token or len(token) > 200:
        return None
    value = await redis.get(_key(purpose, token))
    return int(value) if value is not None else None

"""Single-use, expiring tokens kept in Redis (activation, password reset, e-mail changes)."""

from __future__ import annotations

import hashlib
import json
import secrets
from enum import StrEnum

import redis.asyncio as aioredis


class TokenPurpose(StrEnum):
    ACTIVATE = "activate"
    RESET_PASSWORD = "reset-password"  # noqa: S105 - a purpose, not a password
    CHANGE_EMAIL = "change-email"
    UNDO_EMAIL_CHANGE = "undo-email-change"


TOKEN_TTL_SECONDS = {
    TokenPurpose.ACTIVATE: 48 * 3600,
    TokenPurpose.RESET_PASSWORD: 3600,
    TokenPurpose.CHANGE_EMAIL: 48 * 3600,
    # The old address may take an e-mail change back for a week.
    TokenPurpose.UNDO_EMAIL_CHANGE: 7 * 24 * 3600,
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


async def issue_token_for(
    redis: aioredis.Redis, purpose: TokenPurpose, user_id: int, detail: str
) -> str:
    """As ``issue_token``, the token carrying ``detail`` too (an e-mail address, say)."""
    token = secrets.token_urlsafe(32)
    value = json.dumps({"user_id": user_id, "detail": detail})
    await redis.set(_key(purpose, token), value, ex=TOKEN_TTL_SECONDS[purpose])
    return token


async def peek_token_for(
    redis: aioredis.Redis, purpose: TokenPurpose, token: str
) -> tuple[int, str] | None:
    """The user id and detail of a live ``issue_token_for`` token, not used up."""
    if not token or len(token) > 200:
        return None
    return _decoded(await redis.get(_key(purpose, token)))


async def consume_token_for(
    redis: aioredis.Redis, purpose: TokenPurpose, token: str
) -> tuple[int, str] | None:
    """The user id and detail of an ``issue_token_for`` token, which is then gone."""
    if not token or len(token) > 200:
        return None
    return _decoded(await redis.getdel(_key(purpose, token)))


def _decoded(value: bytes | str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    found = json.loads(value)
    return int(found["user_id"]), str(found["detail"])

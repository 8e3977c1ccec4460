"""Sign-ins kept in Redis.

A sign-in's cookie (quart-auth's, see ``gallery.web.sessions``) holds only a
signed random token; the record that says whose sign-in it is lives here with
an expiry and is listed per user, so it can be shown, revoked, or revoked
everywhere. Any number of app processes share it, and a restart loses nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import redis.asyncio as aioredis


def digest(token: str) -> str:
    # Keys hold a hash of the token, so a copy of Redis does not hand out cookies.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignIn:
    """One signed-in session of a user, as stored in Redis."""

    public_id: str
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    ip: str
    user_agent: str
    remember: bool

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> SignIn:
        return cls(
            public_id=data["public_id"],
            user_id=int(data["user_id"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            last_seen_at=datetime.fromisoformat(data["last_seen_at"]),
            ip=data.get("ip", ""),
            user_agent=data.get("user_agent", ""),
            remember=data.get("remember") == "1",
        )


class SignInStore:
    """Sign-in records in Redis: ``auth:<hash>`` and the per-user index ``user-auth:<id>``."""

    # Refreshing ``last_seen_at`` on every request would be a write per request;
    # once a minute is precise enough for the sessions list.
    TOUCH_INTERVAL_SECONDS = 60

    def __init__(self, redis: aioredis.Redis, session_ttl: int, remember_ttl: int) -> None:
        self.redis = redis
        self.session_ttl = session_ttl
        self.remember_ttl = remember_ttl

    @staticmethod
    def _key(token: str) -> str:
        return f"auth:{digest(token)}"

    @staticmethod
    def _index_key(user_id: int) -> str:
        return f"user-auth:{user_id}"

    async def create(self, user_id: int, *, remember: bool, ip: str, user_agent: str) -> str:
        """Start a sign-in and return its secret token (what the cookie carries)."""
        token = secrets.token_urlsafe(32)
        public_id = secrets.token_hex(8)
        now = datetime.now(UTC).isoformat()
        ttl = self.remember_ttl if remember else self.session_ttl
        index_key = self._index_key(user_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._key(token),
                mapping={
                    "public_id": public_id,
                    "user_id": str(user_id),
                    "created_at": now,
                    "last_seen_at": now,
                    "ip": ip[:64],
                    "user_agent": user_agent[:300],
                    "remember": "1" if remember else "0",
                },
            )
            pipe.expire(self._key(token), ttl)
            pipe.hset(index_key, public_id, digest(token))
            # The index outlives every sign-in it lists (none lasts longer).
            pipe.expire(index_key, self.remember_ttl)
            await pipe.execute()
        return token

    async def _hash(self, key: str) -> dict[str, str]:
        # The client decodes responses (decode_responses=True); its stubs cannot know.
        return cast(dict[str, str], await self.redis.hgetall(key))

    async def get(self, token: str) -> SignIn | None:
        return self._sign_in(await self._hash(self._key(token)))

    async def get_along_with(self, token: str, key: str) -> tuple[SignIn | None, str | None]:
        """The sign-in and the string under ``key``, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key(token))
            pipe.get(key)
            data, value = await pipe.execute()
        return self._sign_in(data), value

    @staticmethod
    def _sign_in(data: dict[str, str]) -> SignIn | None:
        if not data or "user_id" not in data:
            return None
        return SignIn.from_hash(data)

    def needs_touch(self, sign_in: SignIn, now: datetime | None = None) -> bool:
        """Whether a request of this sign-in should record activity (``touch``)."""
        moment = now or datetime.now(UTC)
        return (moment - sign_in.last_seen_at).total_seconds() >= self.TOUCH_INTERVAL_SECONDS

    async def touch(self, token: str, sign_in: SignIn) -> None:
        """Record activity, and slide the expiry of a sign-in that is in use."""
        now = datetime.now(UTC)
        if not self.needs_touch(sign_in, now):
            return
        ttl = self.remember_ttl if sign_in.remember else self.session_ttl
        key = self._key(token)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "last_seen_at", now.isoformat())
            pipe.expire(key, ttl)
            created_fields, _ = await pipe.execute()
        if created_fields:
            # The record was revoked a moment ago and HSET re-created a stub of
            # it; remove the stub (get() ignores it meanwhile: it has no user_id).
            await self.redis.delete(key)

    async def which_exist(self, tokens: list[str]) -> list[bool]:
        """For each token, whether its sign-in still exists (one round trip for all)."""
        if not tokens:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for token in tokens:
                pipe.exists(self._key(token))
            return [bool(found) for found in await pipe.execute()]

    async def delete(self, token: str) -> None:
        """End one sign-in (signing out)."""
        sign_in = await self.get(token)
        await self.redis.delete(self._key(token))
        if sign_in is not None:
            await self.redis.hdel(self._index_key(sign_in.user_id), sign_in.public_id)

    async def list_for_user(self, user_id: int) -> list[SignIn]:
        """The user's live sign-ins, newest first (expired entries are pruned)."""
        index = await self._hash(self._index_key(user_id))
        async with self.redis.pipeline(transaction=False) as pipe:
            for digest in index.values():
                pipe.hgetall(f"auth:{digest}")
            records = await pipe.execute() if index else []
        sign_ins: list[SignIn] = []
        stale: list[str] = []
        for public_id, data in zip(index, records, strict=True):
            if data and "user_id" in data:
                sign_ins.append(SignIn.from_hash(data))
            else:
                stale.append(public_id)
        if stale:
            await self.redis.hdel(self._index_key(user_id), *stale)
        return sorted(sign_ins, key=lambda s: s.created_at, reverse=True)

    async def revoke(self, user_id: int, public_id: str) -> bool:
        """End the user's sign-in with that public id; False if there is none."""
        digest = cast(str | None, await self.redis.hget(self._index_key(user_id), public_id))
        if digest is None:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(f"auth:{digest}")
            pipe.hdel(self._index_key(user_id), public_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def revoke_all(self, user_id: int, *, keep_token: str | None = None) -> int:
        """End every sign-in of the user (but ``keep_token``'s); returns how many ended."""
        index = await self._hash(self._index_key(user_id))
        keep = digest(keep_token) if keep_token else None
        doomed = {public_id: digest for public_id, digest in index.items() if digest != keep}
        if not doomed:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[f"auth:{digest}" for digest in doomed.values()])
            pipe.hdel(self._index_key(user_id), *doomed.keys())
            deleted, _ = await pipe.execute()
        return int(deleted)

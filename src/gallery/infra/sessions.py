"""Server-side sessions in Redis.

Two kinds of session share one store:

* the *sign-in* (quart-auth): its cookie holds only a signed random token; the
  record that says whose sign-in it is lives in Redis with an expiry and is
  listed per user, so it can be shown, revoked, or revoked everywhere;
* Quart's own session (flashed messages, the CSRF token): its cookie holds a
  signed random id, and the data lives in Redis under that id.

Any number of app processes share both, and a restart loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
from itsdangerous import BadSignature, Signer
from quart.sessions import SessionInterface, SessionMixin
from quart_auth import Action, AuthUser
from werkzeug.datastructures import CallbackDict

if TYPE_CHECKING:
    from quart import Quart, Response
    from quart.wrappers import BaseRequestWebsocket

    from gallery.models.user import User


def _digest(token: str) -> str:
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
        return f"auth:{_digest(token)}"

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
            pipe.hset(index_key, public_id, _digest(token))
            # The index outlives every sign-in it lists (none lasts longer).
            pipe.expire(index_key, self.remember_ttl)
            await pipe.execute()
        return token

    async def _hash(self, key: str) -> dict[str, str]:
        # The client decodes responses (decode_responses=True); its stubs cannot know.
        return cast(dict[str, str], await self.redis.hgetall(key))

    async def get(self, token: str) -> SignIn | None:
        data = await self._hash(self._key(token))
        if not data or "user_id" not in data:
            return None
        return SignIn.from_hash(data)

    async def touch(self, token: str, sign_in: SignIn) -> None:
        """Record activity, and slide the expiry of a sign-in that is in use."""
        now = datetime.now(UTC)
        if (now - sign_in.last_seen_at).total_seconds() < self.TOUCH_INTERVAL_SECONDS:
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
        keep = _digest(keep_token) if keep_token else None
        doomed = {public_id: digest for public_id, digest in index.items() if digest != keep}
        if not doomed:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[f"auth:{digest}" for digest in doomed.values()])
            pipe.hdel(self._index_key(user_id), *doomed.keys())
            deleted, _ = await pipe.execute()
        return int(deleted)


class SessionUser(AuthUser):
    """quart-auth's user: the auth id is the sign-in token; the rest is looked up.

    ``load()`` runs once per request (a before-request hook) and resolves the
    token through Redis to a ``User`` row.
    """

    def __init__(self, auth_id: str | None, action: Action = Action.PASS) -> None:
        super().__init__(auth_id, action)
        self.user: User | None = None
        self.sign_in: SignIn | None = None

    @property
    async def is_authenticated(self) -> bool:
        return self.user is not None


class ServerSideSession(CallbackDict[str, Any], SessionMixin):
    """Quart's session, with its data kept in Redis."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.modified = False
        self.rotate = False

    def regenerate(self) -> None:
        """Issue a new id (at sign-in and sign-out) so an old cookie is worth nothing."""
        self.rotate = True
        self.modified = True


class RedisSessionInterface(SessionInterface):
    """Quart session interface storing the data in Redis under a signed random id."""

    KEY_PREFIX = "web-session:"

    def __init__(self, redis_getter: Any, ttl_seconds: int) -> None:
        self._redis_getter = redis_getter
        self.ttl_seconds = ttl_seconds

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis_getter()

    def _signer(self, app: Quart) -> Signer:
        return Signer(app.secret_key, salt="gallery-session")  # type: ignore[arg-type]

    def _key(self, sid: str) -> str:
        return self.KEY_PREFIX + _digest(sid)

    async def open_session(self, app: Quart, request: BaseRequestWebsocket) -> ServerSideSession:
        cookie = request.cookies.get(self.get_cookie_name(app))
        if cookie:
            try:
                sid = self._signer(app).unsign(cookie).decode()
            except BadSignature:
                sid = None
            if sid:
                raw = await self.redis.get(self._key(sid))
                if raw:
                    return ServerSideSession(json.loads(raw), sid=sid)
        return ServerSideSession()

    async def save_session(  # type: ignore[override]
        self, app: Quart, session: ServerSideSession, response: Response | None
    ) -> None:
        if response is None:
            return
        name = self.get_cookie_name(app)
        cookie_args: dict[str, Any] = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "httponly": self.get_cookie_httponly(app),
            "secure": self.get_cookie_secure(app),
            "samesite": self.get_cookie_samesite(app),
        }
        if session.rotate and session.sid:
            await self.redis.delete(self._key(session.sid))
            session.sid = None
        if not session:
            if session.sid:
                await self.redis.delete(self._key(session.sid))
                response.delete_cookie(name, **cookie_args)
            return
        if not session.modified and session.sid:
            return
        if session.sid is None:
            session.sid = secrets.token_urlsafe(32)
            response.set_cookie(name, self._signer(app).sign(session.sid).decode(), **cookie_args)
        await self.redis.set(self._key(session.sid), json.dumps(dict(session)), ex=self.ttl_seconds)

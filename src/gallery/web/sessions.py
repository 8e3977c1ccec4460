"""The Quart side of server-side sessions: quart-auth's user and Quart's session in Redis.

Two kinds of session share one Redis:

* the *sign-in* (quart-auth): its cookie holds only a signed random token,
  resolved through ``gallery.infra.sessions.SignInStore``;
* Quart's own session (flashed messages, the CSRF token): its cookie holds a
  signed random id, and the data lives in Redis under that id.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from itsdangerous import BadSignature, Signer
from quart.sessions import SessionInterface, SessionMixin
from quart_auth import Action, AuthUser
from werkzeug.datastructures import CallbackDict

from gallery.infra.sessions import SignIn, digest

if TYPE_CHECKING:
    from quart import Quart, Response
    from quart.wrappers import BaseRequestWebsocket

    from gallery.models.user import User


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

    def __init__(self, redis_getter: Callable[[], aioredis.Redis], ttl_seconds: int) -> None:
        self._redis_getter = redis_getter
        self.ttl_seconds = ttl_seconds

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis_getter()

    def _signer(self, app: Quart) -> Signer:
        return Signer(app.secret_key, salt="gallery-session")  # type: ignore[arg-type]

    def _key(self, sid: str) -> str:
        return self.KEY_PREFIX + digest(sid)

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

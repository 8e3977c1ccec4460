"""The Quart side of server-side sessions: quart-auth's user and Quart's session in Redis.

Two kinds of session share one Redis:

* the *sign-in* (quart-auth): its cookie holds only a signed random token,
  resolved through ``gallery.infra.sessions.SignInStore``;
* Quart's own session (flashed messages, a signed-in visitor's CSRF token):
  its cookie holds a signed random id, and the data lives in Redis under that id.

Strangers cannot make the site keep state: an empty session is never stored
(anonymous forms use a signed cookie for CSRF instead, see ``web/security.py``),
and an anonymous session that must be kept (a flash message) lives for hours,
not for the 30 days of a sign-in.

Redis trouble while a session is opened never escapes ``open_session`` (which
runs before any of the app's error handling, where it would become Hypercorn's
bare 500): the request goes on with an empty session flagged ``unavailable``,
which is never written back, and ``refuse_without_session_store`` answers 503
to the requests that cannot do without it.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
from itsdangerous import BadSignature, Signer
from quart import request as current_request
from quart import session as current_session
from quart.sessions import SessionInterface, SessionMixin
from quart_auth import Action, AuthUser, current_user
from redis.exceptions import RedisError
from werkzeug.datastructures import CallbackDict
from werkzeug.exceptions import ServiceUnavailable

from gallery.infra.sessions import SignIn, digest

if TYPE_CHECKING:
    from quart import Quart, Response
    from quart.wrappers import BaseRequestWebsocket

    from gallery.models.user import User

log = logging.getLogger(__name__)

# What a session open may meet while Redis is down or slow (TimeoutError
# included: asyncio's is the built-in one, an OSError).
SESSION_STORE_ERRORS = (RedisError, OSError)
# Methods that only read: an anonymous one may go on without its session.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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

    @property
    def keeps_a_sign_in(self) -> bool:
        """Whether this request ends signed in: a sign-in found valid, or one just started.

        A sign-in cookie alone does not count (it may be revoked, or a replayed
        old one): that would let anyone with such a cookie make the site keep
        a 30-day session.
        """
        if self.action is Action.DELETE:
            return False
        started = self.action in (Action.WRITE, Action.WRITE_PERMANENT)
        return self.user is not None or (started and self.auth_id is not None)


def request_session_user() -> SessionUser:
    """quart-auth's user of the current request (resolved from its cookie on first use)."""
    return cast(SessionUser, current_user._get_current_object())  # type: ignore[attr-defined]


class ServerSideSession(CallbackDict[str, Any], SessionMixin):
    """Quart's session, with its data kept in Redis.

    ``unavailable`` marks a session that could not be read (Redis down, the
    error in ``read_error``): it is empty for this request and never written
    back, so the visitor's real session survives the outage untouched.
    """

    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        sid: str | None = None,
        *,
        read_error: BaseException | None = None,
    ) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.sid = sid
        self.modified = False
        self.rotate = False
        self.read_error = read_error
        self.unavailable = read_error is not None

    def regenerate(self) -> None:
        """Issue a new id (at sign-in and sign-out) so an old cookie is worth nothing."""
        self.rotate = True
        self.modified = True


class SessionStoreUnavailable(ServiceUnavailable):
    """The visitor's session could not be read, and this request cannot do without it.

    ``original_exception`` is the Redis error, as on the ``InternalServerError``
    Quart wraps errors in: ``web/errors.py`` tells an outage from a pool wait
    that timed out (overload) by it, and answers either with its Retry-After.
    """

    description = (
        "Your session cannot be read right now (the session store is unavailable). "
        "Nothing was changed; please try again in a few seconds."
    )

    def __init__(self, original_exception: BaseException | None = None) -> None:
        super().__init__()
        self.original_exception = original_exception


async def refuse_without_session_store() -> None:
    """Before everything else: 503 when the session is unreadable and the request needs it.

    Only a safe request of a visitor who is not signed in goes on without its
    session (it loses, for now, at most a flash message, kept in Redis for
    later). Anything else would act on, or render, a session that is not the
    visitor's: a form post checked against the wrong CSRF token, a signed-in
    page whose forms carry a token that is never stored.
    """
    if not getattr(current_session, "unavailable", False):
        return
    error: BaseException | None = getattr(current_session, "read_error", None)
    if current_request.method in SAFE_METHODS and request_session_user().auth_id is None:
        # One line per request: a refusal is logged where it is answered.
        log.warning(
            "%s %s goes on without its session, the session store is unavailable: %s",
            current_request.method,
            current_request.path,
            error,
        )
        return
    raise SessionStoreUnavailable(error)


class RedisSessionInterface(SessionInterface):
    """Quart session interface storing the data in Redis under a signed random id.

    A signed-in visitor's session lives ``ttl_seconds`` (as long as the longest
    sign-in), anybody else's ``anonymous_ttl_seconds``.
    """

    KEY_PREFIX = "web-session:"

    def __init__(
        self,
        redis_getter: Callable[[], aioredis.Redis],
        ttl_seconds: int,
        anonymous_ttl_seconds: int,
    ) -> None:
        self._redis_getter = redis_getter
        self.ttl_seconds = ttl_seconds
        self.anonymous_ttl_seconds = anonymous_ttl_seconds

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis_getter()

    def _signer(self, app: Quart) -> Signer:
        return Signer(app.secret_key, salt="gallery-session")  # type: ignore[arg-type]

    def _key(self, sid: str) -> str:
        return self.KEY_PREFIX + digest(sid)

    async def open_session(self, app: Quart, request: BaseRequestWebsocket) -> ServerSideSession:
        """The visitor's session; never raises, and never asks Redis without a cookie.

        Quart opens the session before any of the app's hooks and error
        handlers, so an exception here would reach the client as the server's
        bare 500. An unreadable session comes back empty and ``unavailable``.
        """
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return ServerSideSession()
        try:
            sid = self._signer(app).unsign(cookie).decode()
        except BadSignature:
            return ServerSideSession()
        try:
            raw = await self.redis.get(self._key(sid))
        except SESSION_STORE_ERRORS as error:
            # Logged by refuse_without_session_store, which decides what it costs.
            return ServerSideSession(read_error=error)
        if raw:
            return ServerSideSession(json.loads(raw), sid=sid)
        return ServerSideSession()

    async def save_session(  # type: ignore[override]
        self, app: Quart, session: ServerSideSession, response: Response | None
    ) -> None:
        if response is None or session.unavailable:
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
        # Decided at every save: a session stored before a sign-in is stored
        # again (under a new id) by the sign-in, and the other way at sign-out.
        signed_in = request_session_user().keeps_a_sign_in
        ttl = self.ttl_seconds if signed_in else self.anonymous_ttl_seconds
        await self.redis.set(self._key(session.sid), json.dumps(dict(session)), ex=ttl)

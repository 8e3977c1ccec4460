"""CSRF, security headers, rate limits and safe redirects."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from quart import Quart, Response, request, session
from werkzeug.exceptions import Forbidden, TooManyRequests

from gallery.infra.runtime import current_redis, current_runtime

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_SESSION_KEY = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def csrf_token() -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


class CSRFError(Forbidden):
    description = (
        "The form or request had no valid CSRF token. Reload the page and try again "
        "(JSON clients: send the token from GET /api/v1/me in the X-CSRF-Token header)."
    )


async def check_csrf() -> None:
    """Refuse an unsafe request whose token does not match the session's."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = session.get(CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.mimetype
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = (await request.form).get(CSRF_FIELD)
    if not expected or not sent or not hmac.compare_digest(str(expected), str(sent)):
        raise CSRFError()


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_runtime().settings.cookie_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


class RateLimited(TooManyRequests):
    """429 with a message saying what was limited and when to try again."""

    def __init__(self, what: str, retry_after: int) -> None:
        minutes = max(1, round(retry_after / 60))
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        super().__init__(f"Too many {what}. Please wait about {wait} and try again.")
        self.retry_after = retry_after


async def rate_limit(what: str, key: str, *, limit: int, window_seconds: int) -> None:
    """Count one attempt under ``key``; raise ``RateLimited`` past ``limit`` per window.

    A fixed window in Redis (a counter that expires with the window) is shared by
    every app process and cheap enough for every attempt.
    """
    if not current_runtime().settings.rate_limits_enabled:
        return
    redis = current_redis()
    redis_key = f"rate:{key}"
    async with redis.pipeline(transaction=True) as pipe:
        # SET NX EX starts the window (EXPIRE NX would need Redis 7; the
        # embedded server is 6.2).
        pipe.set(redis_key, 0, ex=window_seconds, nx=True)
        pipe.incr(redis_key)
        pipe.ttl(redis_key)
        _, count, ttl = await pipe.execute()
    if count > limit:
        raise RateLimited(what, ttl if ttl and ttl > 0 else window_seconds)


def client_address() -> str:
    """The client's address (Hypercorn's ProxyFix-like handling sets remote_addr)."""
    return request.remote_addr or "unknown"


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a relative path on this site, else ``default``.

    Refuses absolute URLs, schemes, protocol-relative ``//host`` and the
    backslash forms browsers treat as ``//`` (``/\\host``), and control characters.
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return default
    if target.startswith(("//", "/\\")) or "\\" in target:
        return default
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def init_security(app: Quart) -> None:
    app.before_request(check_csrf)
    app.after_request(add_security_headers)
    app.context_processor(lambda: {"csrf_token": csrf_token})

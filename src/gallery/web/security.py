"""CSRF, security headers, the client's address and safe redirects.

Rate limits live in ``web/rate_limits.py``.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import unquote, urlsplit

from quart import Quart, Response, current_app, request, session
from werkzeug.exceptions import Forbidden, HTTPException
from werkzeug.routing import RequestRedirect

from gallery.web.resources import resources

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


SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


# ``async`` on purpose, as every hook here: Quart runs a plain ``def`` hook in a
# thread pool, a thread round trip on every response.
async def add_security_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if resources().settings.cookie_secure:
        headers.setdefault(*HSTS)
    return response


async def csrf_globals() -> dict[str, object]:
    """Templates call ``csrf_token()``: the token (and a session) exist only where used."""
    return {"csrf_token": csrf_token}


def client_address() -> str:
    """The client's address (Hypercorn's ProxyFix-like handling sets remote_addr)."""
    return request.remote_addr or "unknown"


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a page of this site (a relative path), else ``default``.

    Refuses absolute URLs, schemes, protocol-relative ``//host`` and the
    backslash forms browsers treat as ``//`` (``/\\host``), control characters,
    and paths that do not answer GET: a sign-in that began at a POST-only
    action (a like, a follow) must not end on a "Method not allowed".
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return default
    if target.startswith(("//", "/\\")) or "\\" in target:
        return default
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not answers_get(unquote(parts.path)):
        return default
    return target


def answers_get(path: str) -> bool:
    """Whether some route of the app takes ``GET path``."""
    adapter = current_app.url_map.bind(request.host)
    try:
        adapter.match(path, method="GET")
    except RequestRedirect:
        return True  # the route exists with or without a trailing slash
    except HTTPException:
        return False
    return True


def referrer_path() -> str | None:
    """The page of this site that the request came from, as a path (``None`` otherwise)."""
    referrer = request.referrer
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.scheme not in ("http", "https") or parts.netloc != request.host:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    found = safe_next(path, "")
    return found or None


async def return_path(default: str = "/") -> str:
    """Where to send someone back to after a refused or interrupted form post.

    The form's own ``next`` field first, then the page the browser says it was
    on, never the URL of the request itself (a GET there would loop or 405).
    """
    target = request.args.get("next")
    if request.method in UNSAFE_METHODS and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        target = (await request.form).get("next") or target
    for candidate in (safe_next(target, ""), referrer_path()):
        if candidate and urlsplit(candidate).path != request.path:
            return candidate
    return default


def init_security(app: Quart) -> None:
    app.before_request(check_csrf)
    app.after_request(add_security_headers)
    app.context_processor(csrf_globals)

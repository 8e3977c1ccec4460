"""CSRF, security headers, personal responses kept out of caches, the client's
address and safe redirects.

CSRF tokens come in two kinds, so that strangers cannot make the site keep state:

* a signed-in visitor's token lives in their server-side session (Redis), as
  it always did, and only it is accepted from them;
* anybody else gets a *signed double-submit* token: a random value that the
  page carries and that a cookie (``gallery_csrf``) carries signed with the
  app's secret. A post is genuine when the two agree; another site can
  neither read the page's value nor forge the cookie's signature. Nothing is
  stored on the server, and the cookie is set only on a response that
  rendered a token. An old session that holds a token keeps it.

Rate limits live in ``web/rate_limits.py``.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from urllib.parse import unquote, urlsplit

from itsdangerous import BadSignature, TimestampSigner
from quart import Quart, Response, current_app, g, request, session
from quart_auth import Action
from werkzeug.exceptions import Forbidden, HTTPException
from werkzeug.routing import RequestRedirect

from gallery.services.passkeys import RelyingParty
from gallery.web.current_user import signed_in_user
from gallery.web.resources import resources
from gallery.web.sessions import request_session_user

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_SESSION_KEY = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# The anonymous double-submit cookie, and the salt of its signature (so no
# other signed value of the app, such as a session id, passes for it).
CSRF_COOKIE = "gallery_csrf"
CSRF_COOKIE_SALT = "gallery-anonymous-csrf"
NO_STORE = "no-store"


def content_security_policy(media_origin: str | None = None) -> str:
    """The CSP; images may also come from ``media_origin`` (an S3 bucket or a CDN)."""
    images = (
        f"img-src 'self' data: blob: {media_origin}"
        if media_origin
        else ("img-src 'self' data: blob:")
    )
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            images,
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()


def csrf_token() -> str:
    """The CSRF token for the page being rendered (or ``GET /api/v1/me``).

    The session's token when it holds one (a signed-in visitor's, or an older
    session's); a new one stored in the session for a signed-in visitor; for
    anybody else the anonymous double-submit token, which stores nothing.
    """
    g._csrf_token_rendered = True  # the response is personal (no-store)
    token = session.get(CSRF_SESSION_KEY)
    if token:
        return str(token)
    if signed_in_user() is None:
        return anonymous_csrf_token()
    token = secrets.token_urlsafe(32)
    session[CSRF_SESSION_KEY] = token
    return token


def anonymous_csrf_lifetime() -> int:
    """How long an anonymous CSRF cookie holds: as long as an anonymous session
    (``GALLERY_ANONYMOUS_SESSION_HOURS``), checked from its signed timestamp
    and told to the browser as its Max-Age."""
    return resources().settings.anonymous_session_seconds


def _anonymous_csrf_signer() -> TimestampSigner:
    return TimestampSigner(current_app.secret_key, salt=CSRF_COOKIE_SALT)  # type: ignore[arg-type]


def anonymous_csrf_cookie() -> tuple[str, float] | None:
    """The value in the request's ``gallery_csrf`` cookie and its age in seconds,
    if its signature holds and it is younger than its lifetime."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie:
        return None
    try:
        value, signed_at = _anonymous_csrf_signer().unsign(
            cookie, max_age=anonymous_csrf_lifetime(), return_timestamp=True
        )
    except BadSignature:  # a forged, altered or expired cookie
        return None
    return value.decode(), time.time() - signed_at.timestamp()


def anonymous_csrf_token() -> str:
    """The double-submit token of a visitor who is not signed in.

    The cookie's value, as long as the cookie holds. A missing or invalid
    cookie gets a new value; one past half its lifetime is signed again with
    the same value, so a page rendered now stays postable for at least half a
    lifetime without changing the token of pages open in other tabs.
    """
    token: str | None = g.get("_anonymous_csrf_token")
    if token is not None:
        return token
    found = anonymous_csrf_cookie()
    if found is None:
        token, refresh = secrets.token_urlsafe(32), True
    else:
        token, age = found
        refresh = age > anonymous_csrf_lifetime() / 2
    if refresh:
        g._anonymous_csrf_cookie = _anonymous_csrf_signer().sign(token).decode()
    g._anonymous_csrf_token = token
    return token


async def set_anonymous_csrf_cookie(response: Response) -> Response:
    """After a page rendered an anonymous token the cookie did not carry yet: set it."""
    signed: str | None = g.get("_anonymous_csrf_cookie")
    if signed is not None:
        response.set_cookie(
            CSRF_COOKIE,
            signed,
            max_age=anonymous_csrf_lifetime(),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=bool(resources().settings.cookie_secure),
        )
    return response


class CSRFError(Forbidden):
    description = (
        "The form or request had no valid CSRF token. Reload the page and try again "
        "(JSON clients: send the token from GET /api/v1/me in the X-CSRF-Token header)."
    )


async def check_csrf() -> None:
    """Refuse an unsafe request whose token is not the visitor's.

    The session's token is always accepted. Only a visitor without a sign-in
    cookie may instead send the anonymous token of their ``gallery_csrf``
    cookie: a signed-in visitor's token is bound to their session, so a
    cookie planted by a sibling site (which can set cookies but not read
    pages) cannot stand in for it.

    A request for which no view will run (no route, or none for its method)
    is left to routing, which answers 404, or 405 with ``Allow``: its token
    protects nothing, and "bad CSRF token" would misname the mistake.
    """
    if request.method not in UNSAFE_METHODS or request.routing_exception is not None:
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.mimetype
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            sent = (await request.form).get(CSRF_FIELD)
    if not sent:
        raise CSRFError()
    expected = session.get(CSRF_SESSION_KEY)
    if expected and hmac.compare_digest(str(expected), str(sent)):
        return
    if request_session_user().auth_id is None:
        cookie = anonymous_csrf_cookie()
        if cookie is not None and hmac.compare_digest(cookie[0], str(sent)):
            return
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


@functools.lru_cache(maxsize=4)
def security_headers(media_origin: str | None) -> dict[str, str]:
    """``SECURITY_HEADERS`` with the CSP that lets pages show images from ``media_origin``."""
    return SECURITY_HEADERS | {"Content-Security-Policy": content_security_policy(media_origin)}


# ``async`` on purpose, as every hook here: Quart runs a plain ``def`` hook in a
# thread pool, a thread round trip on every response.
async def add_security_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in security_headers(resources().storage.media_origin).items():
        headers.setdefault(name, value)
    if resources().settings.cookie_secure:
        headers.setdefault(*HSTS)
    return response


def is_personal(response: Response) -> bool:
    """Whether the response is for this visitor only: it rendered a CSRF token,
    or it goes to someone signed in (or signing in or out), or it belongs to a
    server-side session or sets a cookie."""
    if g.get("_csrf_token_rendered") or "Set-Cookie" in response.headers:
        return True
    auth = request_session_user()
    if auth.auth_id is not None or auth.user is not None or auth.action is not Action.PASS:
        return True
    if session or session.modified:
        return True
    return bool(request.cookies.get(current_app.session_interface.get_cookie_name(current_app)))


async def forbid_storing_personal_responses(response: Response) -> Response:
    """``Cache-Control: no-store`` on every personal response that set no policy of its own.

    Personal data (an e-mail address, the IP addresses of one's sessions, a
    CSRF token) must not stay in a shared cache, nor on the disk of a shared
    computer. A view that chose its own policy keeps it: the ETag feeds and
    polls answer ``private, no-cache`` (a private cache keeps the body so
    that a poll can cost a 304), static and media files are public.
    """
    if "Cache-Control" not in response.headers and is_personal(response):
        response.headers["Cache-Control"] = NO_STORE
    return response


async def csrf_globals() -> dict[str, object]:
    """Templates call ``csrf_token()``: the token exists only where used."""
    return {"csrf_token": csrf_token}


def client_address() -> str:
    """The client's address (Hypercorn's ProxyFix-like handling sets remote_addr)."""
    return request.remote_addr or "unknown"


def relying_party() -> RelyingParty:
    """This site as the browser reached it, for passkeys: the host (after
    ProxyFix behind nginx) and the origin. A passkey made here is bound to
    that host name by the browser, so it works on no other site."""
    host = request.host
    hostname = urlsplit(f"//{host}").hostname or host
    return RelyingParty(id=hostname, origin=f"{request.scheme}://{host}")


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
    """The security hooks (``check_csrf`` runs where it is registered: see create_app)."""
    app.before_request(check_csrf)
    # After-request hooks run last registered first: the cookie is set before
    # the no-store decision looks at the response.
    app.after_request(forbid_storing_personal_responses)
    app.after_request(set_anonymous_csrf_cookie)
    app.after_request(add_security_headers)
    app.context_processor(csrf_globals)

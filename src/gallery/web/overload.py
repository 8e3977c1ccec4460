"""A cap on the requests one process serves at once: past it, 503 at once.

A process that accepts every connection only gets slower for everybody: the
requests queue for the database and Redis pools until they time out. Past
``GALLERY_MAX_REQUESTS_IN_FLIGHT`` the guard answers 503 with Retry-After
straight away, before Quart, Redis or the database see the request, so the
refusal costs next to nothing. It sits on every request: a counter and a
comparison, nothing more.

It also turns a pool wait that timed out where Quart cannot answer it into
the same 503 instead of a 500 with a traceback: reading the request's session
from Redis happens before any error handler, and outside testing Quart lets
such an error out of the app.
"""

from __future__ import annotations

import json
import logging

from hypercorn.typing import ASGIFramework, ASGIReceiveCallable, ASGISendCallable, Scope
from quart import Quart

from gallery.infra.runtime import outage, pool_wait_timed_out
from gallery.settings import Settings
from gallery.web.errors import (
    JSON_PATH_PREFIXES,
    OUTAGE_MESSAGE,
    OUTAGE_RETRY_AFTER_SECONDS,
    OVERLOAD_MESSAGE,
    OVERLOAD_RETRY_AFTER_SECONDS,
)

log = logging.getLogger(__name__)


def error_bodies(title: str, message: str, code: str) -> tuple[bytes, bytes]:
    """The JSON and the HTML body of a refusal answered here, outside Quart."""
    as_json = json.dumps({"error": {"code": code, "message": message}}).encode()
    as_html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{title}</h1><p>{message}</p></body></html>"
    ).encode()
    return as_json, as_html


OVERLOAD_BODIES = error_bodies("Too busy", OVERLOAD_MESSAGE, "OVERLOADED")
OUTAGE_BODIES = error_bodies("Unavailable for a moment", OUTAGE_MESSAGE, "SERVICE_UNAVAILABLE")

# What every page carries (web/security.py), minus what needs the app to compute.
COMMON_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"content-security-policy", b"default-src 'none'"),
]


async def refuse(
    path: str,
    send: ASGISendCallable,
    bodies: tuple[bytes, bytes] = OVERLOAD_BODIES,
    retry_after: int = OVERLOAD_RETRY_AFTER_SECONDS,
) -> None:
    """503 + Retry-After: JSON for scripts' paths, a short page for the rest."""
    wants_json = path.startswith(JSON_PATH_PREFIXES)
    body = bodies[0] if wants_json else bodies[1]
    content_type = b"application/json" if wants_json else b"text/html; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after).encode()),
        *COMMON_HEADERS,
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class OverloadGuard:
    """ASGI middleware around ``app.asgi_app``; websockets and lifespan pass through."""

    def __init__(self, app: ASGIFramework, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight  # 0: no limit
        self.in_flight = 0

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            await refuse(scope["path"], send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            # Quart lets an error out only when it raised before any response
            # was sent (opening the session), so this is the whole answer.
            if pool_wait_timed_out(error):
                log.warning("503 for %s %s: %s", scope["method"], scope["path"], error)
                await refuse(scope["path"], send)
            elif outage(error):
                log.warning("503 for %s %s: %s", scope["method"], scope["path"], error)
                await refuse(scope["path"], send, OUTAGE_BODIES, OUTAGE_RETRY_AFTER_SECONDS)
            else:
                raise
        finally:
            self.in_flight -= 1


def install_overload_guard(app: Quart, settings: Settings) -> None:
    """Wrap the app's ASGI entry (Quart's place for middleware) in the guard."""
    app.asgi_app = OverloadGuard(  # type: ignore[method-assign]
        app.asgi_app, settings.max_requests_in_flight
    )

"""How much body a request may send, decided before anything reads it.

Three limits, from what is known about the sender:

* anonymous requests: ``ANONYMOUS_BODY_LIMIT`` on every route, the upload
  routes included (a stranger has nothing large to send);
* signed-in users: ``SIGNED_IN_BODY_LIMIT`` for their forms and JSON, and
  the upload limit (``MAX_CONTENT_LENGTH``, from ``GALLERY_MAX_UPLOAD_MB``,
  the largest of the three) on the routes marked ``@accepts_uploads``.

The limit is set twice. When the request object is built, before any body
arrives, from what needs no I/O: an upload route *and* a sign-in cookie gets
the upload limit, a sign-in cookie the form limit, anything else the
anonymous one, so nothing large is buffered while the sign-in is looked up.
Then ``enforce_body_limit`` runs right after ``load_signed_in_user`` and
before ``check_csrf`` (the first to read the body) and lowers it to what the
real user may send, answering 413 at once when the declared length, or what
already arrived, is over. ``LimitedBody`` (``web/requests.py``) makes the
limit hold while the rest streams in, with or without ``Content-Length``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, cast

from quart import Quart, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import MapAdapter

from gallery.web.current_user import signed_in_user
from gallery.web.requests import KIB, MIB, GalleryRequest, default_refusal, readable_size

# The largest form a stranger legitimately sends is the registration form:
# a 30-character name, a 254-character address, two 256-character passwords and
# a token, under 4 KB even with every character percent-encoded as 4-byte UTF-8.
# Sixteen times that leaves room for what browsers add, and still keeps an
# anonymous flood to a few dozen KB per request.
ANONYMOUS_BODY_LIMIT = 64 * KIB
# A signed-in user's largest form without a file is a 2,000-character image
# description or a JSON edit of one (under 32 KB in the worst encoding); 1 MB
# is generous for that, and small next to an upload.
SIGNED_IN_BODY_LIMIT = 1 * MIB

# Methods whose requests carry a body worth matching against the upload routes.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

View = TypeVar("View", bound=Callable[..., Any])


def accepts_uploads(view: View) -> View:
    """Mark a view that receives image uploads: signed-in users may send it up to the
    upload limit instead of the form limit.

    Put it right under the route decorator, so the function Quart registers is
    the one that carries the mark.
    """
    view.accepts_uploads = True  # type: ignore[attr-defined]
    return view


def takes_uploads(view: Callable[..., Any] | None) -> bool:
    return bool(getattr(view, "accepts_uploads", False))


def upload_endpoints(app: Quart) -> frozenset[str]:
    """The endpoints marked ``@accepts_uploads`` (for the tests, and to read)."""
    return frozenset(name for name, view in app.view_functions.items() if takes_uploads(view))


@dataclass(frozen=True, slots=True)
class BodyLimit:
    size: int
    message: str


# Six possible answers: made once each, not on every request (it runs on all of them).
@cache
def body_limit(*, upload_limit: int, signed_in: bool, upload_route: bool) -> BodyLimit:
    """The limit for a sender who is (or may be) signed in, on an upload route or not.

    Never above ``upload_limit``: it is ``MAX_CONTENT_LENGTH``, the largest
    body the app takes from anyone.
    """
    if not signed_in:
        size = min(ANONYMOUS_BODY_LIMIT, upload_limit)
        return BodyLimit(
            size,
            f"The request is too large: without signing in, at most {readable_size(size)} "
            "may be sent. Sign in to upload photos.",
        )
    if upload_route:
        return BodyLimit(
            upload_limit,
            f"The upload is too large: at most {readable_size(upload_limit)} may be sent "
            "at a time. Send fewer or smaller photos.",
        )
    size = min(SIGNED_IN_BODY_LIMIT, upload_limit)
    return BodyLimit(size, default_refusal(size))


class FirstGuess:
    """The limit a request starts with, from its method, path and cookie names only.

    A sign-in cookie is taken at its word here (it is checked a moment later
    by ``load_signed_in_user``); without one the sender is anonymous for sure.
    """

    def __init__(self, app: Quart) -> None:
        self.auth_cookies = auth_cookie_names(app)
        self.view_functions = app.view_functions
        # Bound once; ``match`` picks up the rules the blueprints add afterwards.
        self.routes: MapAdapter = app.url_map.bind("localhost")

    def limit_for(
        self, method: str, path: str, cookies: Mapping[str, str], upload_limit: int
    ) -> BodyLimit:
        maybe_signed_in = any(name in cookies for name in self.auth_cookies)
        upload_route = maybe_signed_in and method in BODY_METHODS and self.is_upload(method, path)
        return body_limit(
            upload_limit=upload_limit, signed_in=maybe_signed_in, upload_route=upload_route
        )

    def is_upload(self, method: str, path: str) -> bool:
        try:
            endpoint, _arguments = self.routes.match(path, method=method)
        except HTTPException:  # not found, wrong method, a slash redirect
            return False
        return takes_uploads(self.view_functions.get(str(endpoint)))


def auth_cookie_names(app: Quart) -> tuple[str, ...]:
    """The cookies quart-auth reads a sign-in from (``gallery_auth``)."""
    names = tuple(
        str(auth.cookie_name)
        for auth in app.extensions.get("QUART_AUTH", [])
        if auth.mode == "cookie"
    )
    if not names:
        raise RuntimeError("set up QuartAuth (cookie mode) before the body limits")
    return names


async def enforce_body_limit() -> None:
    """Before every request, after ``load_signed_in_user`` and before ``check_csrf``:
    the limit for the real sender, and 413 now if the body is over it already.

    A body that goes over later (chunked, still arriving) is refused by
    ``LimitedBody`` to whoever reads it: the CSRF check or the view.
    """
    current = cast(GalleryRequest, request)
    view = current_app.view_functions.get(request.endpoint or "")
    limit = body_limit(
        upload_limit=current_app.config["MAX_CONTENT_LENGTH"],
        signed_in=signed_in_user() is not None,
        upload_route=takes_uploads(view),
    )
    current.limit_body(limit.size, limit.message)
    current.body.raise_if_refused()


def install_body_limits(app: Quart) -> None:
    """Make the app's requests start with the first guess, and register the hook.

    Call it between ``load_signed_in_user`` and ``init_security``: before-request
    hooks run in the order they were registered, and the final limit needs
    the user while the CSRF check must already be bound by it. QuartAuth must
    be set up before (its cookie name is read here).
    """
    first_guess = FirstGuess(app)

    class AppRequest(GalleryRequest):
        def initial_body_limit(self) -> tuple[int, str] | None:
            # The body starts with the app's MAX_CONTENT_LENGTH, the upload limit.
            upload_limit = self.body.limit
            if upload_limit is None:  # no MAX_CONTENT_LENGTH: nothing to go by
                return None
            limit = first_guess.limit_for(self.method, self.path, self.cookies, upload_limit)
            return limit.size, limit.message

    app.request_class = AppRequest
    app.before_request(enforce_body_limit)

"""Feed polls answered in front of the framework, from what the app already knows.

Most feed traffic is scripts and open pages polling a feed. Such a request
needs nothing of Quart's machinery (no session, no form): its answer is either
``304`` (the client has the current version) or a page the app already built
and cached for this version. This ASGI layer answers exactly those two cases,
with the headers the app itself would send, and hands everything else to the
app untouched:

* only ``GET`` of the public feed routes below with no ``Authorization``
  header; with no ``Cookie`` header at all (an anonymous poll), or, on
  everyone's feed (``/api/v1/feed``), with a sign-in cookie whose sign-in is
  live (a signed-in poll, the pages' own);
* the ETag is the app's (``web.conditional.etag_for``) over the same version
  read (``services.feeds.feed_version``) and, signed in, the same versions of
  the viewer (``web.conditional.current_etag``), so a 304 here is a 304 there;
* a 200 only from a page this process already holds for the current version
  (``PageCache.peek``), and signed in only from the viewer's own copy of it
  that the app laid out and kept (``PageCache.personal``): the app built and
  validated it, this layer never builds, queries pages, or decides what is
  valid input;
* signed in, the sign-in is read from Redis on every request, as
  ``web.current_user`` does; a cookie that does not verify, a sign-in that
  ended, an account no longer active, or a sign-in due to record its activity
  (once a minute, ``SignInStore.touch``) goes to the app, which drops the
  cookie or records the activity as always. What the answer needs of the
  account (``services.feed_viewers.FeedViewer``) is read from the database
  and kept in this process while the account's generation in Redis, read in
  the same round trip as the sign-in, stays the one read before it; every
  change to those figures moves the generation after its commit. Should
  moving it fail (Redis lost right after the commit), what was kept is
  reread after ``VIEWER_MAX_AGE_SECONDS`` all the same.

A miss, odd parameters, or any error falls through to the app, which answers
as always. Like nginx micro-caching, but exact: nothing is served that the app
would not serve for the same versions at the same moment.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import parse_qs

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    Scope,
)
from quart import Quart
from quart_auth import QuartAuth
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.http import parse_cookie, parse_etags

from gallery.infra.page_cache import PageCache
from gallery.infra.runtime import Runtime
from gallery.infra.single_flight import SingleFlightLRU
from gallery.services import feeds
from gallery.services.errors import ServiceError
from gallery.services.feed_viewers import FeedViewer, active_feed_viewer, generation_key
from gallery.web.compat import check_paging
from gallery.web.conditional import etag_for, personal_version
from gallery.web.feed_pages import (
    PAGE_CACHE_EXTENSION,
    PageBuilder,
    author_page_by_name,
    latest_page,
    personal_page_key,
    seed_page,
    tag_page,
)
from gallery.web.resources import RUNTIME_EXTENSION
from gallery.web.security import HSTS, security_headers

log = logging.getLogger(__name__)

# The page cache's key (and builder) for a matched path and its query.
PageKey = Callable[[re.Match[str], dict[str, str]], tuple[str, PageBuilder]]


def _page_query(query: dict[str, str]) -> tuple[int | None, str | None]:
    limit = query.get("limit")
    return (int(limit) if limit is not None else None), query.get("cursor")


# The one route whose signed-in answer is the shared page with the viewer's
# marks (``feed_pages.personal_page`` with its defaults); the others depend on
# the viewer in other ways (a profile shown in full to its followers).
EVERYONES_FEED = re.compile(r"/api/v1/feed")
ROUTES: list[tuple[re.Pattern[str], PageKey]] = [
    (EVERYONES_FEED, lambda _m, q: latest_page(*_page_query(q))),
    (
        re.compile(r"/api/v1/users/([A-Za-z0-9_.-]{1,30})/images"),
        lambda m, q: author_page_by_name(m.group(1), *_page_query(q)),
    ),
    (
        re.compile(r"/api/v1/tags/([^/]{1,64})/images"),
        lambda m, q: tag_page(m.group(1), *_page_query(q)),
    ),
    (
        re.compile(r"/index/images/([1-9][0-9]{0,4})/([1-9][0-9]{0,2})/"),
        lambda m, _q: seed_page(
            int(m.group(1)), check_paging(int(m.group(1)), int(m.group(2))), None
        ),
    ),
    (
        re.compile(r"/profile/images/([1-9][0-9]{0,9})/([1-9][0-9]{0,4})/([1-9][0-9]{0,2})/"),
        lambda m, _q: seed_page(
            int(m.group(2)), check_paging(int(m.group(2)), int(m.group(3))), int(m.group(1))
        ),
    ),
]
QUERY_KEYS = frozenset({"limit", "cursor"})
LIMIT = re.compile(r"[0-9]{1,3}")
# The bound on serving a viewer's figures whose generation could not be moved
# (see the module's docstring); a reread costs one indexed query.
VIEWER_MAX_AGE_SECONDS = 10.0
# Signed-in viewers whose figures each process keeps (~200 bytes each).
VIEWERS_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class KeptViewer:
    """A viewer's figures as read from the database, after their generation was read."""

    viewer: FeedViewer
    generation: str | None
    read_at: float  # FeedFastPath.clock()


class FeedFastPath:
    """ASGI middleware around the app's ASGI callable (see the module's docstring)."""

    def __init__(self, app: ASGIFramework, quart_app: Quart, *, cookie_secure: bool) -> None:
        self.app = app
        self.quart_app = quart_app
        self.cookie_secure = cookie_secure
        self._common_headers: list[tuple[bytes, bytes]] | None = None
        self._auth: QuartAuth | None = None
        # The clock the age of what is kept is measured on (tests move it on).
        self.clock: Callable[[], float] = time.monotonic
        # By sign-in token: what this process read of the account behind it.
        self._viewers = SingleFlightLRU[KeptViewer](VIEWERS_KEPT)

    @property
    def auth(self) -> QuartAuth:
        """The app's quart-auth, which reads and verifies the sign-in cookie."""
        if self._auth is None:
            (self._auth,) = self.quart_app.extensions["QUART_AUTH"]
        return self._auth

    @property
    def common_headers(self) -> list[tuple[bytes, bytes]]:
        """What web/conditional.set_validators adds, then web/security's headers.

        Built on first use: the CSP names the photo store's origin, which a
        bucket's storage knows once the app has started it.
        """
        if self._common_headers is None:
            runtime = self.quart_app.extensions[RUNTIME_EXTENSION]
            security = security_headers(runtime.storage.media_origin)
            headers = [(name.lower().encode(), value.encode()) for name, value in security.items()]
            if self.cookie_secure:
                headers.append((HSTS[0].lower().encode(), HSTS[1].encode()))
            self._common_headers = [
                (b"cache-control", b"private, no-cache"),
                (b"vary", b"Cookie"),
                *headers,
            ]
        return self._common_headers

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            try:
                if await self._answer(scope, send):
                    return
            except (RedisError, OSError, SQLAlchemyError):
                log.debug("fast path unavailable; the app answers", exc_info=True)
        await self.app(scope, receive, send)

    async def _answer(self, scope: HTTPScope, send: ASGISendCallable) -> bool:
        """Answer the request if it is a poll this layer can serve; False if not."""
        if_none_match = None
        cookie_headers: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                return False
            if name == b"cookie":
                cookie_headers.append(value)  # HTTP/2 clients send one per cookie
            elif name == b"if-none-match":
                if_none_match = value
        found = self._page_key(scope)
        cache: PageCache | None = self.quart_app.extensions.get(PAGE_CACHE_EXTENSION)
        if found is None or cache is None:
            return False
        key, _build = found
        viewer: FeedViewer | None = None
        if cookie_headers:
            viewer = await self._signed_in_viewer(scope, b";".join(cookie_headers))
            if viewer is None:
                return False
        version = await feeds.feed_version(cache.redis)
        path: str = scope["path"]
        full_path = f"{path}?{scope['query_string'].decode()}"
        if viewer is None:
            etag = etag_for(version, full_path, None)
        else:
            mine = personal_version(viewer.saves_version, viewer.relations_version)
            etag = etag_for(f"{version}:{mine}", full_path, viewer.id)
        if if_none_match is not None and parse_etags(if_none_match.decode("latin-1")).contains(
            etag
        ):
            await self._send(send, 304, etag, b"", content_type=b"text/html; charset=utf-8")
            return True
        page = cache.peek(f"{version}:{key}")
        if page is None:
            return False  # the app builds it (and this process keeps it)
        if viewer is not None:
            # The viewer's copy, kept by the app (feed_pages.personal_page).
            page = cache.personal(
                personal_page_key(
                    page.key, viewer.id, viewer.saves_version, viewer.relations_version
                )
            )
            if page is None:
                return False  # the app lays it out (and this process keeps it)
        await self._send(send, 200, etag, page.body, content_type=b"application/json")
        return True

    async def _signed_in_viewer(self, scope: HTTPScope, cookie_header: bytes) -> FeedViewer | None:
        """The signed-in viewer of a poll of everyone's feed whose only cookie that
        matters is a live sign-in; None to let the app answer."""
        if EVERYONES_FEED.fullmatch(scope["path"]) is None:
            return None
        # As werkzeug reads them for the app: the Cookie headers joined by ";".
        cookies = parse_cookie(cookie_header.decode("latin-1"))
        token = cookies.get(self.auth.cookie_name or "")
        if not token:
            return None  # cookies but no sign-in: the app may set or need one
        auth_id = self.auth.load_token(token, app=self.quart_app)
        if auth_id is None:
            return None  # forged or expired: the app drops it
        runtime: Runtime = self.quart_app.extensions[RUNTIME_EXTENSION]
        sign_ins = runtime.sign_ins
        if sign_ins is None:
            return None
        kept = self._viewers.peek(auth_id)
        if kept is None:
            sign_in, generation = await sign_ins.get(auth_id), None
        else:
            sign_in, generation = await sign_ins.get_along_with(
                auth_id, generation_key(kept.viewer.id)
            )
        if sign_in is None or sign_ins.needs_touch(sign_in):
            return None  # ended (the app drops the cookie), or its activity is due
        if (
            kept is not None
            and kept.viewer.id == sign_in.user_id
            and kept.generation == generation
            and self.clock() - kept.read_at < VIEWER_MAX_AGE_SECONDS
        ):
            return kept.viewer
        if kept is None or kept.viewer.id != sign_in.user_id:
            # The client decodes responses (decode_responses=True); its stubs cannot know.
            generation = cast(str | None, await sign_ins.redis.get(generation_key(sign_in.user_id)))
        # The generation is read before the account: a change committed after
        # this read moves it on, and the next poll rereads.
        read_at = self.clock()
        async with runtime.db.engine.connect() as connection:
            viewer = await active_feed_viewer(connection, sign_in.user_id)
        if viewer is None:
            self._viewers.discard(auth_id)
            return None  # gone or deactivated: the app ends the sign-in
        self._viewers.put(auth_id, KeptViewer(viewer, generation, read_at))
        return viewer

    def _page_key(self, scope: HTTPScope) -> tuple[str, PageBuilder] | None:
        """The cache key of the page this request asks for, or None to let the app decide."""
        path: str = scope["path"]
        for pattern, page_key in ROUTES:
            matched = pattern.fullmatch(path)
            if matched is None:
                continue
            try:
                raw = scope["query_string"].decode()
                parsed = parse_qs(raw, keep_blank_values=True, strict_parsing=bool(raw))
            except (UnicodeDecodeError, ValueError):
                return None
            if not set(parsed) <= QUERY_KEYS or any(len(v) != 1 for v in parsed.values()):
                return None
            query = {name: values[0] for name, values in parsed.items()}
            if "limit" in query and not LIMIT.fullmatch(query["limit"]):
                return None
            try:
                return page_key(matched, query)
            except (ServiceError, ValueError):
                return None  # the app explains what is wrong
        return None

    async def _send(
        self, send: ASGISendCallable, status: int, etag: str, body: bytes, *, content_type: bytes
    ) -> None:
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"etag", f'"{etag}"'.encode()),
            *self.common_headers,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def install_fast_path(app: Quart, *, cookie_secure: bool) -> None:
    app.asgi_app = FeedFastPath(  # type: ignore[method-assign]
        app.asgi_app, app, cookie_secure=cookie_secure
    )

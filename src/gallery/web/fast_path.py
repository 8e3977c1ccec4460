"""Anonymous feed polls answered in front of the framework, from what the app already knows.

Most feed traffic is scripts and open pages polling a public feed without
signing in. Such a request needs nothing of Quart's machinery (no session, no
sign-in, no form): its answer is either ``304`` (the client has the current
version) or the shared page the app cached for this version. This ASGI layer
answers exactly those two cases, with the headers the app itself would send,
and hands everything else to the app untouched:

* only ``GET`` of the public feed routes below, with no ``Cookie`` or
  ``Authorization`` header (anyone who may be signed in goes through the app);
* the ETag is the app's (``web.conditional.etag_for``) over the same version
  read (``services.feeds.feed_version``), so a 304 here is a 304 there;
* a 200 only from a page this process already holds for the current version
  (``PageCache.peek``): the app built and validated it, this layer never
  builds, queries, or decides what is valid input. A miss, odd parameters,
  or any error falls through to the app, which answers as always.

Like nginx micro-caching, but exact: nothing is served that the app would
not serve for the same version at the same moment.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import parse_qs

from hypercorn.typing import (
    ASGIFramework,
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    Scope,
)
from quart import Quart
from redis.exceptions import RedisError
from werkzeug.http import parse_etags

from gallery.infra.page_cache import PageCache
from gallery.services import feeds
from gallery.services.errors import ServiceError
from gallery.web.compat import check_paging
from gallery.web.conditional import etag_for
from gallery.web.feed_pages import (
    PAGE_CACHE_EXTENSION,
    PageBuilder,
    author_page_by_name,
    latest_page,
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


ROUTES: list[tuple[re.Pattern[str], PageKey]] = [
    (re.compile(r"/api/v1/feed"), lambda _m, q: latest_page(*_page_query(q))),
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


class AnonymousFeedFastPath:
    """ASGI middleware around the app's ASGI callable (see the module's docstring)."""

    def __init__(self, app: ASGIFramework, quart_app: Quart, *, cookie_secure: bool) -> None:
        self.app = app
        self.quart_app = quart_app
        self.cookie_secure = cookie_secure
        self._common_headers: list[tuple[bytes, bytes]] | None = None

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
            except (RedisError, OSError):
                log.debug("fast path unavailable; the app answers", exc_info=True)
        await self.app(scope, receive, send)

    async def _answer(self, scope: HTTPScope, send: ASGISendCallable) -> bool:
        """Answer the request if it is an anonymous poll this layer can serve; False if not."""
        if_none_match = None
        for name, value in scope["headers"]:
            if name in (b"cookie", b"authorization"):
                return False
            if name == b"if-none-match":
                if_none_match = value
        found = self._page_key(scope)
        cache: PageCache | None = self.quart_app.extensions.get(PAGE_CACHE_EXTENSION)
        if found is None or cache is None:
            return False
        key, _build = found
        version = await feeds.feed_version(cache.redis)
        path: str = scope["path"]
        etag = etag_for(version, f"{path}?{scope['query_string'].decode()}", None)
        if if_none_match is not None and parse_etags(if_none_match.decode("latin-1")).contains(
            etag
        ):
            await self._send(send, 304, etag, b"", content_type=b"text/html; charset=utf-8")
            return True
        page = cache.peek(f"{version}:{key}")
        if page is None:
            return False  # the app builds it (and this process keeps it)
        # Anonymous viewers get the shared page as it is: nothing personal to lay on.
        await self._send(send, 200, etag, page.body, content_type=b"application/json")
        return True

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
    app.asgi_app = AnonymousFeedFastPath(  # type: ignore[method-assign]
        app.asgi_app, app, cookie_secure=cookie_secure
    )

"""The crawler's HTTP layer: fetches that a site's owner would not mind.

``gallery import`` reads pages, feeds and photos from sites that never asked to
be crawled, so every request made here is a polite one, and no answer can hang
or flood the importer:

- robots.txt is read once per origin (RFC 9309) before anything else there, and
  a disallowed URL is never requested, not even as a hop of a redirect;
- requests are bounded in flight (all hosts, and each origin) and spaced per
  origin: no two start closer than the delay, raised by the site's Crawl-delay,
  and pushed back for the whole origin when the site answers Retry-After;
- failures that pass (429, 5xx, a broken connection, a timeout) are tried again
  after a back-off, without holding a slot while waiting;
- redirects are followed by hand, so each hop is checked like a first request;
- bodies are streamed and cut off at a size limit, and every read and every
  hop has a time limit, so a slow-drip or endless body costs a bounded amount.

Refusals are ``FetchRefused`` exceptions with a ``kind`` (for the import's
summary) and a ``reason`` (for a person). Nothing here knows about pages or
photos: the parsers and the crawl are the callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal
from urllib.robotparser import RobotFileParser

import httpx

MB = 1024 * 1024
# RFC 9309 §2.5: crawlers must read at least 500 KiB of a robots.txt; more may be ignored.
ROBOTS_MAX_BYTES = 500 * 1024
# RFC 9309 §2.3.1.2: follow at least five redirects for robots.txt.
ROBOTS_MAX_REDIRECTS = 5
ROBOTS_ACCEPT = "text/plain, */*;q=0.1"

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# The statuses whose Retry-After means "the whole site is busy": waited for, by the whole origin.
RETRY_AFTER_STATUSES = frozenset({429, 503})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Connection failures that a later try may not meet. Other transport errors (a body that
# cannot be decoded, a proxy refusing) would fail the same way again.
RETRYABLE_ERRORS = (
    httpx.ConnectError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
# Back-offs vary by ±25 % so that requests refused together do not come back together.
BACKOFF_JITTER = 0.25
DEFAULT_PORTS = {"http": 80, "https": 443}

RefusalKind = Literal[
    "robots", "not-http", "too-large", "http-status", "timeout", "network", "redirects"
]

# RobotFileParser only understands whole seconds and ignores "Crawl-delay: 2.5";
# such a delay is rounded up (more polite, never less) before the parser sees it.
_FRACTIONAL_CRAWL_DELAY = re.compile(r"^(\s*crawl-delay\s*:\s*)(\d*\.\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class FetchPolicy:
    """How politely, and within which limits, the importer fetches."""

    user_agent: str
    # The product token matched against robots.txt's User-agent lines.
    robots_agent: str = "GalleryImporter"
    concurrency: int = 8  # requests in flight, all hosts together
    per_host: int = 2  # requests in flight to one origin (scheme, host and port)
    delay_seconds: float = 1.0  # at least this long between two starts to one origin
    max_crawl_delay: float = 30.0  # a robots.txt Crawl-delay is honoured up to this
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # also the bound on each read of the body
    total_timeout: float = 120.0  # one try of one hop, body included
    retries: int = 3  # extra tries after a 429, 5xx (500/502/503/504), a broken connection
    backoff_seconds: float = 1.0  # the first back-off without Retry-After; doubles, with jitter
    max_retry_after: float = 120.0  # a longer Retry-After is not waited for: that URL is given up
    max_redirects: int = 5

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.per_host < 1:
            raise ValueError("concurrency and per_host must be at least 1")
        if self.retries < 0 or self.max_redirects < 0:
            raise ValueError("retries and max_redirects cannot be negative")


class FetchRefused(Exception):
    """Why a URL was not fetched, or fetched in vain; ``kind`` groups reasons for the summary."""

    def __init__(self, kind: RefusalKind, reason: str) -> None:
        super().__init__(kind, reason)
        self.kind: RefusalKind = kind
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Fetched:
    url: str  # the final URL, after redirects
    status: int
    content_type: str  # the media type, lowercased, without parameters ("" if none)
    charset: str | None  # the charset parameter of Content-Type, lowercased, if any
    body: bytes


@dataclass(frozen=True)
class _Answer:
    """What one hop came back with; the body is read only for a 2xx."""

    url: httpx.URL
    status: int
    headers: httpx.Headers
    body: bytes


@dataclass(frozen=True)
class _BodyLimit:
    max_bytes: int
    # Keep the first max_bytes rather than refuse the rest (robots.txt, RFC 9309 §2.5).
    truncate: bool = False


@dataclass(frozen=True)
class _RobotsRules:
    """An origin's robots.txt as read: its rules, none at all, or a reason to fetch nothing."""

    parser: RobotFileParser | None = None  # None: no rules (robots.txt is missing)
    # Set when robots.txt could not be fetched: the site cannot say what it allows.
    unreachable: str | None = None

    def refusal(self, agent: str, url: str) -> FetchRefused | None:
        if self.unreachable is not None:
            return FetchRefused("robots", f"robots.txt could not be fetched ({self.unreachable})")
        if self.parser is None or self.parser.can_fetch(agent, url):
            return None
        return FetchRefused("robots", "disallowed by robots.txt")


@dataclass
class _Origin:
    """One scheme://host:port: its slots, its pace, its robots.txt."""

    robots_url: str
    slots: asyncio.Semaphore
    delay: float
    not_before: float = 0.0  # time.monotonic() before which no request starts
    last_start: float = -math.inf
    robots: _RobotsRules | None = None
    # Held while robots.txt is fetched, so that concurrent first requests share one fetch.
    robots_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def slow_down_to(self, delay: float) -> None:
        """Space the starts at least ``delay`` apart from now on, counting from the last one."""
        self.delay = max(self.delay, delay)
        self.not_before = max(self.not_before, self.last_start + self.delay)

    def hold_back_until(self, moment: float) -> None:
        self.not_before = max(self.not_before, moment)


class PoliteFetcher:
    """Fetches URLs within a ``FetchPolicy``; use it as ``async with PoliteFetcher(policy)``.

    One pooled HTTP/1.1 client serves every fetch. ``trust_env`` is left on, so an
    operator behind a proxy can set HTTPS_PROXY / NO_PROXY (and SSL_CERT_FILE) as for
    any other tool; a ``transport`` given here replaces the pool (and the proxies).
    """

    def __init__(
        self, policy: FetchPolicy, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.policy = policy
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._origins: dict[str, _Origin] = {}
        self._requests_made = 0

    async def __aenter__(self) -> PoliteFetcher:
        policy = self.policy
        self._client = httpx.AsyncClient(
            headers={"User-Agent": policy.user_agent},
            timeout=httpx.Timeout(
                connect=policy.connect_timeout,
                read=policy.read_timeout,
                write=policy.read_timeout,
                # Our own slots bound what is in flight to the pool's size: never a wait.
                pool=None,
            ),
            limits=httpx.Limits(
                max_connections=policy.concurrency,
                max_keepalive_connections=policy.concurrency,
            ),
            http1=True,
            http2=False,
            follow_redirects=False,  # by hand: each hop is checked against robots.txt
            transport=self._transport,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @property
    def requests_made(self) -> int:
        """Every HTTP request sent or attempted (robots.txt and retries included)."""
        return self._requests_made

    async def fetch(self, url: str, *, max_bytes: int, accept: str = "*/*") -> Fetched:
        """The body of ``url`` (after redirects), or ``FetchRefused`` saying why not."""
        answer = await self._follow(
            _http_url(url),
            accept=accept,
            limit=_BodyLimit(max_bytes),
            obey_robots=True,
            max_redirects=self.policy.max_redirects,
        )
        if not 200 <= answer.status < 300:
            raise FetchRefused("http-status", f"HTTP {answer.status}")
        content_type, charset = _parse_content_type(answer.headers.get("Content-Type", ""))
        return Fetched(
            url=str(answer.url),
            status=answer.status,
            content_type=content_type,
            charset=charset,
            body=answer.body,
        )

    async def allowed(self, url: str) -> bool:
        """Whether robots.txt lets us fetch ``url`` (False for a URL that is not http(s))."""
        try:
            target = _http_url(url)
        except FetchRefused:
            return False
        return await self._robots_refusal(target) is None

    async def _follow(
        self,
        url: httpx.URL,
        *,
        accept: str,
        limit: _BodyLimit,
        obey_robots: bool,
        max_redirects: int,
    ) -> _Answer:
        """The final answer of a chain of redirects, whatever its status."""
        seen = {str(url)}
        hops = 0
        while True:
            if obey_robots and (refusal := await self._robots_refusal(url)) is not None:
                if hops:
                    raise FetchRefused("robots", f"redirected to {url}: {refusal.reason}")
                raise refusal
            answer = await self._fetch_hop(url, accept=accept, limit=limit)
            location = answer.headers.get("Location")
            if answer.status not in REDIRECT_STATUSES or not location:
                return answer
            try:
                url = _http_url(str(url.join(location)))
            except (httpx.InvalidURL, FetchRefused) as exc:
                raise FetchRefused(
                    "not-http", f"redirected to a non-http(s) URL: {location}"
                ) from exc
            hops += 1
            if str(url) in seen:
                raise FetchRefused("redirects", "redirect loop")
            if hops > max_redirects:
                raise FetchRefused("redirects", f"more than {max_redirects} redirects")
            seen.add(str(url))

    async def _fetch_hop(self, url: httpx.URL, *, accept: str, limit: _BodyLimit) -> _Answer:
        """One URL, tried again while its failure may pass; the last answer or refusal."""
        origin = self._origin(url)
        attempt = 0
        while True:
            failure: FetchRefused | None = None
            answer: _Answer | None = None
            retry_after: float | None = None
            try:
                answer = await self._send(origin, url, accept=accept, limit=limit)
            except (httpx.TimeoutException, TimeoutError) as exc:
                failure = FetchRefused("timeout", "timed out")
                failure.__cause__ = exc  # raised later, if no try is left
            except RETRYABLE_ERRORS as exc:
                failure = FetchRefused("network", _network_reason(exc))
                failure.__cause__ = exc
            except httpx.HTTPError as exc:
                raise FetchRefused("network", _network_reason(exc)) from exc
            else:
                if answer.status not in RETRYABLE_STATUSES:
                    return answer
                retry_after = self._honour_retry_after(answer, origin)
            if attempt >= self.policy.retries:
                if failure is not None:
                    raise failure
                assert answer is not None
                return answer
            if retry_after is None:
                # No word from the server: back off this URL only, holding no slot.
                jitter = random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER)
                await asyncio.sleep(self.policy.backoff_seconds * 2**attempt * jitter)
            # With Retry-After, the origin's not-before moved: the next slot waits for it.
            attempt += 1

    async def _send(
        self, origin: _Origin, url: httpx.URL, *, accept: str, limit: _BodyLimit
    ) -> _Answer:
        client = self._client
        if client is None:
            raise RuntimeError("PoliteFetcher is not open: use it as `async with PoliteFetcher(…)`")
        async with self._request_slot(origin), asyncio.timeout(self.policy.total_timeout):
            self._requests_made += 1
            async with client.stream("GET", url, headers={"Accept": accept}) as response:
                status = response.status_code
                if not 200 <= status < 300:
                    # Redirects, errors: the body is of no use; closing drops the connection.
                    return _Answer(url, status, response.headers, b"")
                body = await _read_body(response, limit)
                return _Answer(url, status, response.headers, body)

    @contextlib.asynccontextmanager
    async def _request_slot(self, origin: _Origin) -> AsyncIterator[None]:
        """Hold a slot of the origin and a global one, at the origin's turn to start.

        The wait for the origin's turn holds no slot. Whoever gets the slots but finds
        the turn moved meanwhile (another request started, or a Retry-After came)
        gives them back and waits again, so the spacing holds without a queue.
        """
        while True:
            await _sleep_until(origin.not_before)
            async with origin.slots, self._slots:
                now = time.monotonic()
                if now >= origin.not_before:
                    origin.last_start = now
                    origin.not_before = now + origin.delay
                    yield
                    return

    def _honour_retry_after(self, answer: _Answer, origin: _Origin) -> float | None:
        """Seconds the server asked the whole origin to wait, if it did; too long refuses."""
        if answer.status not in RETRY_AFTER_STATUSES:
            return None
        seconds = _retry_after_seconds(answer.headers.get("Retry-After"))
        if seconds is None:
            return None
        if seconds > self.policy.max_retry_after:
            raise FetchRefused(
                "http-status", f"HTTP {answer.status}: asked to wait {seconds:.0f} s"
            )
        origin.hold_back_until(time.monotonic() + seconds)
        return seconds

    def _origin(self, url: httpx.URL) -> _Origin:
        port = url.port or DEFAULT_PORTS[url.scheme]
        key = f"{url.scheme}://{url.raw_host.decode('ascii')}:{port}"
        origin = self._origins.get(key)
        if origin is None:
            robots_url = httpx.URL(
                scheme=url.scheme, host=url.host, port=url.port, path="/robots.txt"
            )
            origin = _Origin(
                robots_url=str(robots_url),
                slots=asyncio.Semaphore(self.policy.per_host),
                delay=self.policy.delay_seconds,
            )
            self._origins[key] = origin
        return origin

    async def _robots_refusal(self, url: httpx.URL) -> FetchRefused | None:
        rules = await self._robots_rules(self._origin(url))
        return rules.refusal(self.policy.robots_agent, str(url))

    async def _robots_rules(self, origin: _Origin) -> _RobotsRules:
        if origin.robots is None:
            async with origin.robots_lock:
                if origin.robots is None:
                    origin.robots = await self._fetch_robots(origin)
        return origin.robots

    async def _fetch_robots(self, origin: _Origin) -> _RobotsRules:
        """The origin's rules as RFC 9309 reads a robots.txt answer.

        A 2xx is parsed; a 4xx means there are no rules; a server error or a network
        failure means the site cannot say what it allows, so nothing is fetched.
        """
        try:
            answer = await self._follow(
                httpx.URL(origin.robots_url),
                accept=ROBOTS_ACCEPT,
                limit=_BodyLimit(ROBOTS_MAX_BYTES, truncate=True),
                obey_robots=False,
                max_redirects=ROBOTS_MAX_REDIRECTS,
            )
        except FetchRefused as refusal:
            if refusal.kind in ("redirects", "not-http"):
                # RFC 9309 §2.3.1.2: too many redirects count as "unavailable", like a 4xx.
                return _RobotsRules()
            return _RobotsRules(unreachable=refusal.reason)
        if 400 <= answer.status < 500 and answer.status != 429:
            return _RobotsRules()
        if not 200 <= answer.status < 300:
            # 5xx, or a 429 that outlasted the retries: unreachable, so nothing is allowed.
            return _RobotsRules(unreachable=f"HTTP {answer.status}")
        parser = RobotFileParser()
        parser.parse(_robots_lines(answer.body))
        crawl_delay = parser.crawl_delay(self.policy.robots_agent)
        if crawl_delay is not None:
            origin.slow_down_to(min(float(crawl_delay), self.policy.max_crawl_delay))
        return _RobotsRules(parser)


def _http_url(url: str) -> httpx.URL:
    """``url`` without its fragment, if it is an http(s) URL with a host."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchRefused("not-http", f"not a valid URL: {url}") from exc
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        raise FetchRefused("not-http", f"not an http(s) URL: {url}")
    return parsed.copy_with(fragment=None)


async def _read_body(response: httpx.Response, limit: _BodyLimit) -> bytes:
    """The body, streamed; refused as soon as it is known to exceed the limit."""
    declared = _content_length(response.headers)
    if declared is not None and declared > limit.max_bytes and not limit.truncate:
        raise FetchRefused(
            "too-large", f"larger than {limit.max_bytes / MB:.1f} MB (Content-Length: {declared})"
        )
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit.max_bytes:
            if limit.truncate:
                return bytes(body[: limit.max_bytes])
            raise FetchRefused("too-large", f"larger than {limit.max_bytes / MB:.1f} MB")
    return bytes(body)


def _content_length(headers: httpx.Headers) -> int | None:
    value = headers.get("Content-Length", "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _parse_content_type(value: str) -> tuple[str, str | None]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"."""
    media_type, *parameters = value.split(";")
    charset = None
    for parameter in parameters:
        name, _, parameter_value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = parameter_value.strip().strip('"').lower() or None
    return media_type.strip().lower(), charset


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP-date; None if unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _robots_lines(body: bytes) -> list[str]:
    text = body.decode("utf-8-sig", errors="replace")
    if len(body) >= ROBOTS_MAX_BYTES:
        # Cut off at the limit: the last line may be half a rule, so it goes.
        text = text.rpartition("\n")[0]
    return [
        _FRACTIONAL_CRAWL_DELAY.sub(
            lambda match: f"{match[1]}{math.ceil(float(match[2]))}", line, count=1
        )
        for line in text.splitlines()
    ]


def _network_reason(exc: httpx.HTTPError) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {detail}"
    return f"connection failed: {detail}"


async def _sleep_until(moment: float) -> None:
    wait = moment - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)

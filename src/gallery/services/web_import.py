"""`gallery import URL`: photos from web pages, feeds, sitemaps and lists of URLs.

A crawl starts from the addresses given. Each is fetched (politely: see
``infra.web_fetch``) and read for what it is (``infra.web_sources.sniff``):

- a web page gives its photos (``<img>``, ``<picture>``, ``og:image``…), and,
  while ``depth`` allows, its links to pages of the same site;
- an RSS or Atom feed gives its enclosures and media elements;
- a sitemap gives its pages (read as pages, at the same depth), its images
  (image sitemaps) and its sitemaps (a sitemap index);
- a plain-text list gives addresses, each read as one of these;
- an image is a photo to import.

Every photo goes through the upload pipeline (``images.ingest``: decoded,
cleaned of its metadata, variants made); what is not an image, too large,
broken, refused by the server or by robots.txt is skipped with the reason.
A post records where its photo came from (``Image.source_url``) and the
SHA-256 of the address and of the bytes, in the same transaction, so a photo
is imported once per account, whether it comes back under the same address or
another (across runs too): a stopped import is continued by running it again.
Captions default to the photo's alt text, else the page's title.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from sqlalchemy import select

from gallery.infra.db import Database
from gallery.infra.storage import Storage
from gallery.infra.web_fetch import Fetched, FetchRefused, PoliteFetcher
from gallery.infra.web_sources import (
    FoundImage,
    SourceUnreadable,
    parse_feed,
    parse_html,
    parse_sitemap,
    parse_url_list,
    sniff,
)
from gallery.models.image import (
    ALT_TEXT_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    SOURCE_URL_MAX_LENGTH,
    Image,
)
from gallery.services import images, users
from gallery.services.errors import NotFoundError, ServiceError

log = logging.getLogger(__name__)

# Pages, feeds and sitemaps are read whole: larger ones are not pages people make
# (an address given may be a photo's, which may be as large as an upload).
MAX_SOURCE_BYTES = 10 * 1024 * 1024
# However deep the links go, one run reads at most this many of them.
MAX_SOURCES = 5000
# Photos processed (decoded, resized) at once; fetching goes on meanwhile.
IMPORTS_AT_ONCE = 2
ACCEPT_SOURCES = (
    "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
    "application/xml;q=0.9,text/plain;q=0.8,*/*;q=0.5"
)
ACCEPT_IMAGES = "image/avif,image/webp,image/heic,image/*;q=0.9,*/*;q=0.5"
# What the summary calls each kind of skip.
SKIP_KINDS = {
    "robots": "disallowed by robots.txt",
    "not-http": "not a web address",
    "too-large": "too large",
    "http-status": "refused by the server",
    "timeout": "timed out",
    "network": "could not connect",
    "redirects": "redirect loop",
    "not-an-image": "not an image",
    "broken": "damaged or too many pixels",
    "duplicate": "the same photo as another",
    "imported-before": "imported before",
    "unreadable": "page, feed or sitemap unreadable",
    "too-long": "address too long",
    "refused": "refused",
}


def normalized_url(url: str) -> str:
    """``url`` as compared: scheme and host in lower case, no default port, no fragment."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    default_port = {"http": 80, "https": 443}.get(scheme)
    if parts.port is not None and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def url_sha256(url: str) -> str:
    return hashlib.sha256(normalized_url(url).encode()).hexdigest()


def site_of(url: str) -> str:
    """What "the same site" means for ``--depth``: the host, without a ``www.``."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


@dataclass(frozen=True)
class Skipped:
    url: str
    kind: str  # a key of SKIP_KINDS
    reason: str  # for a person


@dataclass
class ImportReport:
    """What a run did; the CLI draws its progress line and summary from it."""

    found: int = 0  # photo addresses found (each once)
    fetched: int = 0  # photos downloaded
    imported: int = 0
    sources_read: int = 0  # pages, feeds, sitemaps and lists read
    skipped: list[Skipped] = field(default_factory=list)
    imported_posts: list[int] = field(default_factory=list)
    reached_max: bool = False
    stopped: bool = False  # interrupted (Ctrl-C)

    def skipped_by_kind(self) -> Counter[str]:
        return Counter(skip.kind for skip in self.skipped)


@dataclass(frozen=True)
class ImportLimits:
    max_photo_bytes: int  # the upload limit
    depth: int = 0  # levels of same-site links followed from a page
    max_photos: int | None = None  # stop after importing this many
    description: str | None = None  # one caption for every photo, instead of the found one


@dataclass(frozen=True)
class _Source:
    url: str
    depth: int
    site: str


@dataclass(frozen=True)
class _Photo:
    found: FoundImage
    page_title: str


class WebImport:
    """One run of `gallery import URL…` for one account."""

    def __init__(
        self,
        db: Database,
        storage: Storage,
        redis: aioredis.Redis | None,
        fetcher: PoliteFetcher,
        *,
        author_id: int,
        limits: ImportLimits,
        on_progress: Callable[[ImportReport], None] | None = None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.redis = redis
        self.fetcher = fetcher
        self.author_id = author_id
        self.limits = limits
        self.report = ImportReport()
        self._on_progress = on_progress or (lambda report: None)
        self._queue: asyncio.Queue[_Source | _Photo] = asyncio.Queue()
        self._seen_sources: set[str] = set()
        self._seen_photos: set[str] = set()
        # The bytes being imported in this run, by hash: two addresses of one
        # photo fetched at once must not both pass the database's check.
        self._hashes_in_run: dict[str, str] = {}
        self._importing = asyncio.Semaphore(IMPORTS_AT_ONCE)
        self._reserved = 0  # imports under way, counted against max_photos
        self._storing: set[asyncio.Task[None]] = set()
        self._done = False

    async def run(self, addresses: Sequence[str]) -> ImportReport:
        """Import from ``addresses``; Ctrl-C (cancellation) stops cleanly and returns the report."""
        for address in addresses:
            self._add_source(_Source(address, 0, site_of(address)))
        workers = [
            asyncio.create_task(self._work(), name=f"import-{n}")
            for n in range(max(1, self.fetcher.policy.concurrency))
        ]
        try:
            await self._queue.join()
        except asyncio.CancelledError:
            self.report.stopped = True
        finally:
            self._done = True
            for worker in workers:
                worker.cancel()
            # A photo being stored is let finish (its post is whole or absent).
            results = await asyncio.gather(*workers, *self._storing, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    log.error("An import worker failed", exc_info=result)
        self._on_progress(self.report)
        return self.report

    # -- the queue ------------------------------------------------------------------

    def _add_source(self, source: _Source) -> None:
        key = normalized_url(source.url)
        if key in self._seen_sources or len(self._seen_sources) >= MAX_SOURCES:
            return
        self._seen_sources.add(key)
        self._queue.put_nowait(source)

    def _add_photo(self, found: FoundImage, page_title: str) -> None:
        key = normalized_url(found.url)
        if key in self._seen_photos:
            return
        self._seen_photos.add(key)
        self.report.found += 1
        self._queue.put_nowait(_Photo(found, page_title))
        self._on_progress(self.report)

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                if self._done:
                    continue
                if isinstance(job, _Source):
                    await self._read_source(job)
                else:
                    await self._import_photo(job)
            except Exception:
                url = job.url if isinstance(job, _Source) else job.found.url
                log.exception("Importing from %s failed", url)
                self._skip(url, "refused", "an unexpected error (see the log)")
            finally:
                self._queue.task_done()

    def _skip(self, url: str, kind: str, reason: str) -> None:
        self.report.skipped.append(Skipped(url, kind, reason))
        self._on_progress(self.report)

    # -- pages, feeds, sitemaps, lists ---------------------------------------------

    async def _read_source(self, source: _Source) -> None:
        # Any address may turn out to be a photo's: one imported before is not fetched again.
        earlier = await self._post_from_url(source.url)
        if earlier is not None:
            self._seen_photos.add(normalized_url(source.url))
            self._skip(source.url, "imported-before", f"imported before (post {earlier})")
            return
        try:
            fetched = await self.fetcher.fetch(
                source.url,
                max_bytes=max(MAX_SOURCE_BYTES, self.limits.max_photo_bytes),
                accept=ACCEPT_SOURCES,
            )
        except FetchRefused as refused:
            self._skip(source.url, refused.kind, refused.reason)
            return
        kind = sniff(fetched.content_type, fetched.body, fetched.url)
        if kind == "image":
            # An address of a photo itself (given, listed or linked).
            self._seen_photos.add(normalized_url(source.url))
            self.report.found += 1
            await self._import_fetched(source.url, fetched, FoundImage(source.url), "")
            return
        try:
            self._read(source, fetched, kind)
        except SourceUnreadable as error:
            self._skip(source.url, "unreadable", str(error))
            return
        self.report.sources_read += 1
        self._on_progress(self.report)

    def _read(self, source: _Source, fetched: Fetched, kind: str) -> None:
        if kind in ("html", "feed"):
            content = (
                parse_html(fetched.body, fetched.url, fetched.charset)
                if kind == "html"
                else parse_feed(fetched.body, fetched.url)
            )
            for found in content.images:
                self._add_photo(found, content.title)
            if source.depth < self.limits.depth:
                for link in content.links:
                    if site_of(link) == source.site:
                        self._add_source(_Source(link, source.depth + 1, source.site))
        elif kind == "sitemap":
            sitemap = parse_sitemap(fetched.body, fetched.url)
            for found in sitemap.images:
                self._add_photo(found, "")
            # The pages a sitemap lists are read as if they had been given.
            for url in [*sitemap.sitemaps, *sitemap.pages]:
                self._add_source(_Source(url, source.depth, site_of(url)))
        elif kind == "urls":
            try:
                text = fetched.body.decode(fetched.charset or "utf-8", errors="replace")
            except LookupError:  # a charset Python does not know
                text = fetched.body.decode("utf-8", errors="replace")
            for url in parse_url_list(text, fetched.url):
                self._add_source(_Source(url, source.depth, site_of(url)))
        else:
            shown = fetched.content_type or "no content type"
            raise SourceUnreadable(f"not a page, feed, sitemap, list or image ({shown})")

    # -- photos ---------------------------------------------------------------------

    async def _import_photo(self, job: _Photo) -> None:
        url = job.found.url
        if len(url) > SOURCE_URL_MAX_LENGTH:
            self._skip(url, "too-long", f"an address longer than {SOURCE_URL_MAX_LENGTH}")
            return
        earlier = await self._post_from_url(url)
        if earlier is not None:
            self._skip(url, "imported-before", f"imported before (post {earlier})")
            return
        try:
            fetched = await self.fetcher.fetch(
                url, max_bytes=self.limits.max_photo_bytes, accept=ACCEPT_IMAGES
            )
        except FetchRefused as refused:
            self._skip(url, refused.kind, refused.reason)
            return
        await self._import_fetched(url, fetched, job.found, job.page_title)

    async def _import_fetched(
        self, url: str, fetched: Fetched, found: FoundImage, page_title: str
    ) -> None:
        self.report.fetched += 1
        self._on_progress(self.report)
        if len(fetched.body) > self.limits.max_photo_bytes:
            self._skip(url, "too-large", "larger than the upload limit")
            return
        content_sha256 = hashlib.sha256(fetched.body).hexdigest()
        twin = self._hashes_in_run.get(content_sha256)
        if twin is not None:
            self._skip(url, "duplicate", f"the same photo as {twin}")
            return
        self._hashes_in_run[content_sha256] = url
        earlier = await self._post_with_bytes(content_sha256)
        if earlier is not None:
            self._skip(url, "duplicate", f"the same photo as post {earlier}, imported before")
            return
        if not self._reserve():
            return
        # Shielded, and awaited by ``run`` if the import is stopped meanwhile: a
        # photo being stored is let finish, so its post is whole and counted.
        storing = asyncio.create_task(
            self._store_and_count(url, fetched.body, content_sha256, found, page_title)
        )
        self._storing.add(storing)
        storing.add_done_callback(self._storing.discard)
        await asyncio.shield(storing)

    async def _store_and_count(
        self, url: str, data: bytes, content_sha256: str, found: FoundImage, page_title: str
    ) -> None:
        try:
            post_id = await self._store(url, data, content_sha256, found, page_title)
        except ServiceError as error:
            self._skip(url, _kind_of(error), error.message)
            return
        finally:
            self._reserved -= 1
        self.report.imported += 1
        self.report.imported_posts.append(post_id)
        if self.limits.max_photos is not None and self.report.imported >= self.limits.max_photos:
            self.report.reached_max = True
            self._done = True
        self._on_progress(self.report)

    def _reserve(self) -> bool:
        """A place for one more import under ``max_photos``; False once they are taken."""
        limit = self.limits.max_photos
        if self._done or (limit is not None and self.report.imported + self._reserved >= limit):
            return False
        self._reserved += 1
        return True

    async def _store(
        self, url: str, data: bytes, content_sha256: str, found: FoundImage, page_title: str
    ) -> int:
        alt_text = found.alt[:ALT_TEXT_MAX_LENGTH]
        caption = self.limits.description
        if caption is None:
            caption = found.alt or page_title
        async with self._importing, self.db.session() as session:
            try:
                author = await users.find_account_by_id(session, self.author_id)
            except NotFoundError as error:
                raise ServiceError("the account was deleted during the import") from error
            post = await images.ingest(
                session,
                self.storage,
                self.redis,
                author=author,
                data=data,
                description=caption[:DESCRIPTION_MAX_LENGTH],
                alt_text=alt_text,
                imported_from=images.ImportedFrom(url, url_sha256(url), content_sha256),
            )
            return post.id

    async def _post_from_url(self, url: str) -> int | None:
        async with self.db.session() as session:
            return await session.scalar(
                select(Image.id)
                .where(
                    Image.author_id == self.author_id, Image.source_url_sha256 == url_sha256(url)
                )
                .limit(1)
            )

    async def _post_with_bytes(self, content_sha256: str) -> int | None:
        async with self.db.session() as session:
            return await session.scalar(
                select(Image.id)
                .where(Image.author_id == self.author_id, Image.source_sha256 == content_sha256)
                .limit(1)
            )


def _kind_of(error: ServiceError) -> str:
    if error.status == 415:
        return "not-an-image"
    if error.status == 422:
        return "broken"
    if error.status == 413:
        return "too-large"
    return "refused"

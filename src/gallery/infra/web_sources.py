"""What a web document offers to `gallery import`: its photos, its title, the links onwards.

The pure half of the importer: bytes in, plain objects out, no network and no
files. The fetcher decides what to download and the crawl what to follow; this
module only reads what they bring back — a web page, an RSS/Atom feed, a
sitemap, a text file of URLs — and says what kind of thing a body is.

Everything here reads documents written by strangers, so:

- XML is parsed only with ``defusedxml`` (no entity expansion, no external
  references: billion laughs and XXE fail as ``SourceUnreadable``), and a
  gzipped sitemap is unpacked incrementally under a fixed cap.
- HTML is parsed leniently, as browsers do: a broken page yields what could be
  read from it, never an error.
- Every URL returned is absolute, http or https, without its fragment, and
  appears once, in document order.
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urldefrag, urljoin, urlsplit, urlunsplit

import defusedxml.ElementTree as SafeElementTree

if TYPE_CHECKING:
    # The type only: every parse goes through defusedxml.
    from xml.etree.ElementTree import Element


class SourceUnreadable(ValueError):
    """The body is not what its type says (XML that does not parse, say)."""


@dataclass(frozen=True)
class FoundImage:
    url: str  # absolute http(s) URL, fragment removed
    alt: str = ""  # the alt text or caption found with it, whitespace collapsed, ≤ 1000 chars


@dataclass
class PageContent:
    title: str  # og:title, else <title>, whitespace collapsed ("" if none)
    images: list[FoundImage]  # document order, each URL once
    links: list[str]  # <a href> pages (not images, not rel=nofollow), each once, in order


@dataclass
class FeedContent:
    title: str
    images: list[FoundImage]  # alt: the media's own description/title, else the item's title
    links: list[str]  # the items' own pages


@dataclass
class SitemapContent:
    pages: list[str]  # <url><loc> of a urlset
    images: list[FoundImage]  # <image:image><image:loc>, alt from image:caption or image:title
    sitemaps: list[str]  # <sitemap><loc> of a sitemapindex


SourceKind = Literal["html", "feed", "sitemap", "urls", "image", "unknown"]

ALT_MAX_CHARS = 1000
# The sitemap protocol's own limit on one file, unpacked.
SITEMAP_MAX_BYTES = 50 * 1024 * 1024

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".heic")

MEDIA_NS = "http://search.yahoo.com/mrss/"
ATOM_NS = "http://www.w3.org/2005/Atom"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RSS1_NS = "http://purl.org/rss/1.0/"
# mod_enclosure, how RSS 1.0 feeds carry enclosures.
RSS1_ENCLOSURE_NS = "http://purl.oclc.org/net/rss_2.0/enc#"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
SITEMAP_IMAGE_NS = "http://www.google.com/schemas/sitemap-image/1.1"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"


# --- URLs -----------------------------------------------------------------------------------

# What may stay as it is in a URL's path and query; anything else (spaces, quotes,
# non-ASCII letters) is percent-encoded as UTF-8, as browsers do before they fetch.
_PATH_SAFE = "/%:@!$&'()*+,;=~[]"
_QUERY_SAFE = _PATH_SAFE + "?"


def absolute_http_url(href: str, base_url: str) -> str | None:
    """``href`` resolved against ``base_url``, without its fragment, if it is http(s).

    None for anything else: ``data:``, ``javascript:``, ``mailto:``, a relative
    reference with no usable base, a malformed host or port, or an empty
    reference (which names no new resource, only the document itself).
    """
    href = href.strip()
    if not href:
        return None
    try:
        joined = urljoin(base_url, href) if base_url else href
        parts = urlsplit(urldefrag(joined).url)
        parts.port  # noqa: B018 — raises ValueError on a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    # Hosts are case-insensitive: lower-case them so one host is one string
    # (unless credentials ride along, whose case matters).
    netloc = parts.netloc if "@" in parts.netloc else parts.netloc.lower()
    path = quote(parts.path, safe=_PATH_SAFE) or "/"
    query = quote(parts.query, safe=_QUERY_SAFE)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _looks_like_image_url(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(IMAGE_EXTENSIONS)


def _collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def _clean_alt(text: str) -> str:
    return _collapse_whitespace(text)[:ALT_MAX_CHARS]


class _FoundImages:
    """Images in the order they were first seen, each once, the first non-empty alt kept."""

    def __init__(self) -> None:
        self._alts: dict[str, str] = {}

    def add(self, url: str, alt: str = "") -> None:
        alt = _clean_alt(alt)
        known = self._alts.get(url)
        if known is None or (not known and alt):
            self._alts[url] = alt

    def __contains__(self, url: object) -> bool:
        return url in self._alts

    def as_list(self) -> list[FoundImage]:
        return [FoundImage(url, alt) for url, alt in self._alts.items()]


def _unique(urls: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(urls))


# --- Sniffing ------------------------------------------------------------------------------

_FEED_ROOTS = {"rss", "feed", "rdf"}
_SITEMAP_ROOTS = {"urlset", "sitemapindex"}
# The roots a page without a doctype may open with (a short list from the
# WHATWG's sniffing of HTML).
_HTML_ROOTS = {"html", "head", "body"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_SNIFF_BYTES = 64 * 1024

_TAG_NAME = re.compile(r"<([A-Za-z_][\w:.-]*)")
_DOCTYPE_NAME = re.compile(r"<!doctype\s+([\w:.-]+)", re.IGNORECASE)


def sniff(content_type: str, body: bytes, url: str = "") -> SourceKind:
    """Which parser a fetched body needs, from its media type and, where that is vague, its bytes.

    ``content_type`` is the media type without parameters. A precise type is
    believed (``text/html``, the feed types, ``text/plain``), with two
    exceptions for common misconfigurations: a feed or sitemap served as
    ``text/html`` is a feed or sitemap (browsers sniff those too), and markup
    served as ``text/plain`` is what its root element says. XML types, the
    empty type, ``application/octet-stream`` and any type not listed are
    decided by the body: the root element after any BOM, ``<?xml?>``,
    comments and doctype; image magic bytes; a gzip body whose URL ends in
    ``.xml.gz`` (a sitemap); a first line that is an http(s) URL (a URL list).

    ``image/*`` is trusted without looking: the import pipeline decodes every
    image it stores and refuses bytes that are not one, so a page served as
    ``image/jpeg`` fails there, once, with the right message.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type.startswith("image/"):
        return "image"
    if media_type in ("text/html", "application/xhtml+xml"):
        kind = _sniff_body(body, url)
        return kind if kind in ("feed", "sitemap") else "html"
    if media_type in ("application/rss+xml", "application/atom+xml"):
        return "feed"
    if media_type == "text/plain":
        kind = _sniff_body(body, url)
        return kind if kind != "unknown" else "urls"
    return _sniff_body(body, url)


def _sniff_body(body: bytes, url: str) -> SourceKind:
    head = body[:_SNIFF_BYTES]
    if head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image"
    if head.startswith(b"GIF8") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS | _AVIF_BRANDS:
        return "image"
    if head.startswith(_GZIP_MAGIC):
        path = urlsplit(url).path.lower()
        return "sitemap" if path.endswith(".xml.gz") else "unknown"

    text = _decode_for_sniffing(head)
    if text.lstrip().startswith("<"):
        root = _root_element_name(text)
        if root is None:
            return "unknown"
        local_name = root.rsplit(":", 1)[-1].lower()
        if local_name in _FEED_ROOTS:
            return "feed"
        if local_name in _SITEMAP_ROOTS:
            return "sitemap"
        if local_name in _HTML_ROOTS:
            return "html"
        return "unknown"
    if "\x00" not in text and _first_meaningful_line(text).startswith(("http://", "https://")):
        return "urls"
    return "unknown"


def _decode_for_sniffing(head: bytes) -> str:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head[: len(head) // 2 * 2].decode("utf-16", errors="ignore").lstrip("\ufeff")
    # Latin-1 never fails and keeps every ASCII tag name as it is.
    return head.removeprefix(_UTF8_BOM).decode("latin-1")


def _root_element_name(text: str) -> str | None:
    """The first element's name, past whitespace, ``<?…?>``, comments and a doctype.

    ``"html"`` for an HTML doctype, whose root may be left implicit.
    """
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if text.startswith("<?", position):
            end = text.find("?>", position)
            if end < 0:
                return None
            position = end + 2
        elif text.startswith("<!--", position):
            end = text.find("-->", position + 4)
            if end < 0:
                return None
            position = end + 3
        elif text[position : position + 9].lower() == "<!doctype":
            doctype = _DOCTYPE_NAME.match(text, position)
            if doctype is not None and doctype.group(1).lower() == "html":
                return "html"
            end = text.find(">", position)
            subset = text.find("[", position)
            if 0 <= subset < end:  # an internal subset may itself hold '>'
                end = text.find("]", subset)
                end = text.find(">", end) if end >= 0 else -1
            if end < 0:
                return None
            position = end + 1
        else:
            element = _TAG_NAME.match(text, position)
            return element.group(1) if element is not None else None


def _first_meaningful_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line
    return ""


# --- URL lists ------------------------------------------------------------------------------


def parse_url_list(text: str, base_url: str | None = None) -> list[str]:
    """The http(s) URLs of a text file, one a line, each once, in order.

    Blank lines and ``#`` comments are skipped. A line with whitespace inside
    it is not a URL and is skipped too (resolved against a base it would
    otherwise become a nonsense path on the source's own site). Relative URLs
    count only when ``base_url`` is given.
    """
    urls: list[str] = []
    for line in text.removeprefix("\ufeff").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or any(char.isspace() for char in line):
            continue
        url = absolute_http_url(line, base_url or "")
        if url is not None:
            urls.append(url)
    return _unique(urls)


# --- HTML -----------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_META_SCAN_BYTES = 2048
# Labels browsers read as windows-1252 (the WHATWG Encoding Standard): pages that
# say Latin-1 mean cp1252, whose curly quotes and euro sign sit in 0x80–0x9F.
_WINDOWS_1252_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "ascii", "us-ascii"}
_PIXEL_MAX = 2


def parse_html(body: bytes, base_url: str, charset: str | None = None) -> PageContent:
    """The title, photos and onward links of a web page.

    Text encoding: a byte order mark, else ``charset`` (from the HTTP header),
    else a ``<meta>`` declaration in the first 2 KB, else UTF-8; bytes that do
    not decode are replaced, never fatal. ``<base href>`` is honoured.

    Photos, in document order: ``<img>`` (the largest ``srcset``/
    ``data-srcset`` candidate, else ``data-src``/``data-original``, else
    ``src``; images at most 2×2 are tracking pixels and skipped),
    ``<picture>`` (one photo: its first ``<source>``'s largest candidate, with
    the alt of the picture's ``<img>``, whose own ``src`` is only the
    fallback), ``og:image`` (and ``:url``, ``:secure_url``; alt from
    ``og:image:alt``), ``twitter:image``, and links to image files. A link to
    an image file is the photo and the ``<img>`` inside it only its thumbnail,
    so that thumbnail is not returned. A ``<figcaption>`` gives its figure's
    images an alt they lack.

    Skipped: ``<script>``, ``<style>`` and ``<template>`` content. ``<noscript>``
    is read: ``html.parser`` (scripting off, like a crawler) parses its
    content as markup, so the real ``<img>`` of a lazy-loading page is found
    there with no second pass.

    Links: ``<a href>`` pages, except ``rel=nofollow`` ones (following them is
    exactly what nofollow asks crawlers not to do).
    """
    text = body.decode(_html_encoding(body, charset), errors="replace").removeprefix("\ufeff")
    reader = _PageReader(base_url)
    try:
        reader.feed(text)
        reader.close()
    except (AssertionError, ValueError):
        # html.parser still gives up on a few malformed declarations (`<![…`);
        # what was read up to there stands, as a browser would show it.
        pass
    return reader.content()


def _html_encoding(body: bytes, charset: str | None) -> str:
    if body.startswith(_UTF8_BOM):
        return "utf-8"
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for label in (charset, _meta_charset(body)):
        encoding = _known_encoding(label)
        if encoding is not None:
            return encoding
    return "utf-8"


def _meta_charset(body: bytes) -> str | None:
    declared = _META_CHARSET.search(body[:_META_SCAN_BYTES])
    if declared is None:
        return None
    label = declared.group(1).decode("ascii").lower()
    # A declaration read in ASCII cannot be UTF-16: browsers take UTF-8 then.
    return "utf-8" if label.startswith(("utf-16", "utf16")) else label


def _known_encoding(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    if label in _WINDOWS_1252_LABELS:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


@dataclass
class _SrcsetCandidate:
    url: str
    width: float | None
    density: float | None


def _srcset_candidates(srcset: str) -> Iterator[tuple[str, float | None, float | None]]:
    """(url, width, density) of each candidate, parsed as the HTML standard does.

    URLs may hold commas (image CDNs put resizing options there), so a candidate
    ends at whitespace, and its descriptors at a comma outside parentheses.
    """
    position, length = 0, len(srcset)
    while True:
        while position < length and (srcset[position].isspace() or srcset[position] == ","):
            position += 1
        if position >= length:
            return
        start = position
        while position < length and not srcset[position].isspace():
            position += 1
        url = srcset[start:position]
        descriptors = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            start, depth = position, 0
            while position < length:
                char = srcset[position]
                if char == "(":
                    depth += 1
                elif char == ")" and depth:
                    depth -= 1
                elif char == "," and not depth:
                    break
                position += 1
            descriptors = srcset[start:position]
        width = density = None
        for descriptor in descriptors.split():
            try:
                if descriptor.endswith("w"):
                    width = float(descriptor[:-1])
                elif descriptor.endswith("x"):
                    density = float(descriptor[:-1])
            except ValueError:
                continue
        if url:
            yield url, width, density


def _largest_candidate(srcsets: Iterable[str | None], base_url: str) -> str | None:
    """The biggest ``w`` candidate, else the biggest ``x`` (1x when unsaid); first on a tie."""
    candidates = [
        _SrcsetCandidate(url, width, density)
        for srcset in srcsets
        if srcset
        for raw_url, width, density in _srcset_candidates(srcset)
        if (url := absolute_http_url(raw_url, base_url)) is not None
    ]
    if not candidates:
        return None
    by_width = [candidate for candidate in candidates if candidate.width is not None]
    if by_width:
        return max(by_width, key=lambda candidate: candidate.width or 0.0).url
    return max(candidates, key=lambda candidate: candidate.density or 1.0).url


def _dimension(value: str | None) -> int | None:
    digits = re.match(r"\s*(\d+)", value or "")
    return int(digits.group(1)) if digits is not None else None


@dataclass
class _OpenImageLink:
    """An ``<a>`` to an image file, until its end tag: its text and images give the alt."""

    url: str
    text: list[str]
    image_alts: list[str]


@dataclass
class _OpenFigure:
    images: list[str]
    caption: list[str]
    in_caption: bool = False


_Attributes = dict[str, str]

_IMG_SRCSETS = ("srcset", "data-srcset", "data-lazy-srcset")
# Lazy loaders keep the real image here and a placeholder in src.
_IMG_SOURCES = ("data-src", "data-lazy-src", "data-original", "src")
_OG_IMAGE_KEYS = {"og:image", "og:image:url", "og:image:secure_url"}
_TWITTER_IMAGE_KEYS = {"twitter:image", "twitter:image:src"}


class _PageReader(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self._base_url = page_url
        self._base_seen = False
        self._images = _FoundImages()
        self._links: dict[str, None] = {}
        self._og_title = ""
        self._title = ""
        self._title_parts: list[str] | None = None
        self._title_seen = False
        self._in_raw_text = False  # inside <script> or <style>
        self._template_depth = 0
        self._svg_depth = 0  # <svg><title> is a tooltip, not the page's title
        self._image_link: _OpenImageLink | None = None
        self._picture_sources: list[str] | None = None
        self._figures: list[_OpenFigure] = []
        self._last_meta_image: str | None = None  # what a following og:image:alt describes

    # html.parser's callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "template":
            self._template_depth += 1
            return
        if self._template_depth:
            return
        attributes = _first_attributes(attrs)
        if tag in ("script", "style"):
            self._in_raw_text = True
        elif tag == "base":
            self._on_base(attributes)
        elif tag == "meta":
            self._on_meta(attributes)
        elif tag == "title" and not self._title_seen and not self._svg_depth:
            self._title_parts = []
        elif tag == "svg":
            self._svg_depth += 1
        elif tag == "a":
            self._on_link(attributes)
        elif tag == "picture":
            self._picture_sources = []
        elif tag == "source" and self._picture_sources is not None:
            self._on_picture_source(attributes)
        elif tag == "img":
            self._on_img(attributes)
        elif tag == "figure":
            self._figures.append(_OpenFigure(images=[], caption=[]))
        elif tag == "figcaption" and self._figures:
            self._figures[-1].in_caption = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self._template_depth = max(0, self._template_depth - 1)
            return
        if self._template_depth:
            return
        if tag in ("script", "style"):
            self._in_raw_text = False
        elif tag == "title" and self._title_parts is not None:
            self._title = _collapse_whitespace("".join(self._title_parts))
            self._title_parts = None
            self._title_seen = True
        elif tag == "svg":
            self._svg_depth = max(0, self._svg_depth - 1)
        elif tag == "a":
            self._close_image_link()
        elif tag == "picture":
            self._picture_sources = None
        elif tag == "figcaption" and self._figures:
            self._figures[-1].in_caption = False
        elif tag == "figure" and self._figures:
            self._close_figure(self._figures.pop())

    def handle_data(self, data: str) -> None:
        if self._in_raw_text or self._template_depth:
            return
        if self._title_parts is not None:
            self._title_parts.append(data)
        if self._image_link is not None:
            self._image_link.text.append(data)
        if self._figures and self._figures[-1].in_caption:
            self._figures[-1].caption.append(data)

    def close(self) -> None:
        super().close()
        # Unclosed at the end of the document: settle them as if closed there.
        self._close_image_link()
        while self._figures:
            self._close_figure(self._figures.pop())
        if self._title_parts is not None and not self._title_seen:
            self._title = _collapse_whitespace("".join(self._title_parts))

    def content(self) -> PageContent:
        links = [link for link in self._links if link not in self._images]
        return PageContent(
            title=self._og_title or self._title, images=self._images.as_list(), links=links
        )

    # Elements

    def _url(self, href: str | None) -> str | None:
        return absolute_http_url(href, self._base_url) if href else None

    def _on_base(self, attributes: _Attributes) -> None:
        # Only the first <base href> counts, resolved against the page's own URL.
        if self._base_seen or "href" not in attributes:
            return
        self._base_seen = True
        base = self._url(attributes["href"])
        if base is not None:
            self._base_url = base

    def _on_meta(self, attributes: _Attributes) -> None:
        key = (attributes.get("property") or attributes.get("name") or "").strip().lower()
        content = attributes.get("content", "")
        if key == "og:title":
            self._og_title = _collapse_whitespace(content)
        elif key in _OG_IMAGE_KEYS or key in _TWITTER_IMAGE_KEYS:
            url = self._url(content)
            if url is not None:
                self._add_image(url)
            self._last_meta_image = url
        elif key in ("og:image:alt", "twitter:image:alt") and self._last_meta_image:
            self._images.add(self._last_meta_image, content)

    def _on_link(self, attributes: _Attributes) -> None:
        self._close_image_link()  # an <a> never nests: a new one ends the last
        url = self._url(attributes.get("href"))
        if url is None:
            return
        if _looks_like_image_url(url):
            self._add_image(url)
            self._image_link = _OpenImageLink(url=url, text=[], image_alts=[])
        elif "nofollow" not in attributes.get("rel", "").lower().split():
            self._links[url] = None

    def _close_image_link(self) -> None:
        link, self._image_link = self._image_link, None
        if link is not None:
            text = _collapse_whitespace("".join(link.text))
            self._images.add(link.url, text or next(filter(None, link.image_alts), ""))

    def _on_picture_source(self, attributes: _Attributes) -> None:
        url = _largest_candidate(
            (attributes.get("srcset"), attributes.get("data-srcset")), self._base_url
        )
        # The sources of a <picture> are one photo in several formats or sizes:
        # the first (the one a modern browser would show) stands for them all.
        if url is None or self._picture_sources is None or self._picture_sources:
            return
        if self._add_image(url):
            self._picture_sources.append(url)

    def _on_img(self, attributes: _Attributes) -> None:
        width, height = _dimension(attributes.get("width")), _dimension(attributes.get("height"))
        if width is not None and height is not None and max(width, height) <= _PIXEL_MAX:
            return  # a tracking pixel
        alt = attributes.get("alt") or attributes.get("title") or ""
        url = _largest_candidate((attributes.get(name) for name in _IMG_SRCSETS), self._base_url)
        if url is None:
            sources = (self._url(attributes.get(name)) for name in _IMG_SOURCES)
            url = next((source for source in sources if source is not None), None)
        if self._picture_sources:
            # The fallback of a <picture> whose sources were read: the same photo,
            # smaller or in an older format, not one more.
            url = None
        if url is not None and self._add_image(url):
            self._images.add(url, alt)
        for source_url in self._picture_sources or ():
            self._images.add(source_url, alt)
        if self._image_link is not None:
            self._image_link.image_alts.append(alt)

    def _add_image(self, url: str) -> bool:
        """Record a photo unless it is the thumbnail inside a link to the photo itself."""
        if self._image_link is not None and url != self._image_link.url:
            return False
        self._images.add(url)
        if self._figures:
            self._figures[-1].images.append(url)
        return True

    def _close_figure(self, figure: _OpenFigure) -> None:
        caption = "".join(figure.caption)
        for url in figure.images:
            self._images.add(url, caption)
        if self._figures:  # a nested figure's images belong to the outer one as well
            self._figures[-1].images.extend(figure.images)


def _first_attributes(attrs: list[tuple[str, str | None]]) -> _Attributes:
    """Attributes by name; as in browsers, the first of a repeated attribute wins."""
    attributes: _Attributes = {}
    for name, value in attrs:
        attributes.setdefault(name, value or "")
    return attributes


class _TextOfHtml(HTMLParser):
    """The text of an HTML fragment (a feed's ``type="html"`` description)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _text_of_html(fragment: str) -> str:
    reader = _TextOfHtml()
    try:
        reader.feed(fragment)
        reader.close()
    except (AssertionError, ValueError):
        pass
    return "".join(reader.parts)


# --- XML ------------------------------------------------------------------------------------


def _parse_xml(body: bytes | bytearray) -> Element:
    """The root of an XML document read with defusedxml, or ``SourceUnreadable``."""
    # Generators that print a blank line before <?xml …?> are common, and harmless.
    if body[:1].isspace() or body.startswith(_UTF8_BOM):
        body = body.removeprefix(_UTF8_BOM).lstrip()
    try:
        return SafeElementTree.fromstring(body)
    except SafeElementTree.ParseError as error:
        raise SourceUnreadable(f"not well-formed XML ({error})") from error
    except ValueError as error:
        # defusedxml's refusals (entities, external references) are ValueErrors,
        # as is an encoding expat cannot read.
        raise SourceUnreadable(f"XML refused: {error.__class__.__name__}") from error


def _split_tag(tag: str) -> tuple[str, str]:
    """``(namespace, local name)`` of an ElementTree tag such as ``{ns}item``."""
    if tag.startswith("{"):
        namespace, _, local_name = tag[1:].partition("}")
        return namespace, local_name
    return "", tag


def _qualified(namespace: str, local_name: str) -> str:
    return f"{{{namespace}}}{local_name}" if namespace else local_name


def _element_text(element: Element | None) -> str:
    if element is None:
        return ""
    text = "".join(element.itertext())
    if element.get("type", "").lower() in ("html", "text/html"):
        text = _text_of_html(text)
    return _collapse_whitespace(text)


def _with_xml_base(element: Element, base_url: str) -> str:
    declared = element.get(XML_BASE)
    if not declared:
        return base_url
    return absolute_http_url(declared, base_url) or base_url


# --- Feeds ----------------------------------------------------------------------------------


def parse_feed(body: bytes, base_url: str) -> FeedContent:
    """The photos of an RSS 2.0, RSS 1.0 or Atom feed, and its items' pages.

    Per item: image enclosures (``type="image/…"``, or no type and an image
    file name) and Media RSS ``media:content`` images. A ``media:group`` holds
    renditions of one photo, so only its largest (by declared width, else the
    first) is taken. ``media:thumbnail`` counts only for an item with no other
    image, and then its largest. The alt is the media's own description or
    title, else its group's, else the item's Media RSS one, else the item's
    title. Relative URLs resolve against the feed's URL and ``xml:base``.
    """
    root = _parse_xml(body)
    root_namespace, root_name = _split_tag(root.tag)
    base_url = _with_xml_base(root, base_url)
    if root_name == "rss":
        namespace, item_name = root_namespace, "item"
        channel = root.find(_qualified(namespace, "channel"))
        title_holder = channel
    elif root_name == "feed":
        namespace, item_name = root_namespace, "entry"
        channel = None
        title_holder = root
    elif root_name == "RDF" and root_namespace == RDF_NS:
        # RSS 1.0 (and 0.90): channel and items are siblings in the RSS namespace.
        channel = next((child for child in root if _split_tag(child.tag)[1] == "channel"), None)
        namespace = _split_tag(channel.tag)[0] if channel is not None else RSS1_NS
        item_name = "item"
        title_holder = channel
    else:
        raise SourceUnreadable(f"not a feed (its root element is <{root_name}>)")
    if channel is not None:
        base_url = _with_xml_base(channel, base_url)

    title = ""
    if title_holder is not None:
        title = _element_text(title_holder.find(_qualified(namespace, "title")))
    images = _FoundImages()
    links: list[str] = []
    for item in root.iter(_qualified(namespace, item_name)):
        item_base = _with_xml_base(item, base_url)
        for url, alt in _feed_item_images(item, namespace, item_base):
            images.add(url, alt)
        link = _feed_item_link(item, namespace, item_base)
        if link is not None:
            links.append(link)
    return FeedContent(title=title, images=images.as_list(), links=_unique(links))


def _feed_item_link(item: Element, namespace: str, base_url: str) -> str | None:
    for link in item.iterfind(_qualified(namespace, "link")):
        href = link.get("href")
        if href is not None:  # Atom
            if link.get("rel", "alternate") == "alternate" and not _is_image_type(link):
                url = absolute_http_url(href, _with_xml_base(link, base_url))
                if url is not None:
                    return url
        elif link.text:  # RSS
            url = absolute_http_url(link.text, base_url)
            if url is not None:
                return url
    # RSS 2.0 items without a <link> often have a permalink guid instead.
    guid = item.find(_qualified(namespace, "guid"))
    if guid is not None and guid.text and guid.get("isPermaLink", "true").lower() == "true":
        return absolute_http_url(guid.text, base_url)
    return None


def _is_image_type(element: Element, type_attribute: str = "type") -> bool:
    return element.get(type_attribute, "").strip().lower().startswith("image/")


def _is_image_file(element: Element, url: str, type_attribute: str = "type") -> bool:
    """An image by its declared type, or by its file name when the type is missing or generic."""
    declared = element.get(type_attribute, "").strip().lower()
    if declared.startswith("image/"):
        return True
    return declared in ("", "application/octet-stream") and _looks_like_image_url(url)


def _media_text(element: Element) -> str:
    """A Media RSS element's own description, else its own title."""
    for name in ("description", "title"):
        text = _element_text(element.find(_qualified(MEDIA_NS, name)))
        if text:
            return text
    return ""


def _media_width(element: Element) -> int:
    return _dimension(element.get("width")) or 0


def _media_content_image(content: Element, base_url: str) -> str | None:
    """The URL of a ``media:content`` that is an image (by medium, type or file name)."""
    url = absolute_http_url(content.get("url", ""), _with_xml_base(content, base_url))
    if url is None:
        return None
    medium = content.get("medium", "").strip().lower()
    if medium:
        return url if medium == "image" else None
    return url if _is_image_file(content, url) else None


def _feed_item_images(item: Element, namespace: str, base_url: str) -> list[tuple[str, str]]:
    item_title = _element_text(item.find(_qualified(namespace, "title")))
    item_media_text = _media_text(item) or item_title
    found: list[tuple[str, str]] = []
    for child in item:
        child_namespace, name = _split_tag(child.tag)
        child_base = _with_xml_base(child, base_url)
        if name == "enclosure" and child_namespace in ("", namespace):  # RSS 2.0
            url = absolute_http_url(child.get("url", ""), child_base)
            if url is not None and _is_image_file(child, url):
                found.append((url, item_media_text))
        elif name == "enclosure" and child_namespace == RSS1_ENCLOSURE_NS:
            resource = child.get(f"{{{RDF_NS}}}resource", "")
            url = absolute_http_url(resource, child_base)
            if url is not None and _is_image_file(child, url, f"{{{RSS1_ENCLOSURE_NS}}}type"):
                found.append((url, item_media_text))
        elif name == "link" and child_namespace == ATOM_NS and child.get("rel") == "enclosure":
            url = absolute_http_url(child.get("href", ""), child_base)
            if url is not None and _is_image_file(child, url):
                found.append((url, _title_attribute(child) or item_media_text))
        elif child_namespace == MEDIA_NS and name == "content":
            url = _media_content_image(child, base_url)
            if url is not None:
                found.append((url, _media_text(child) or item_media_text))
        elif child_namespace == MEDIA_NS and name == "group":
            found.extend(_media_group_image(child, base_url, item_media_text))
    if found:
        return found
    thumbnails = [
        (url, thumbnail)
        for thumbnail in item.iter(_qualified(MEDIA_NS, "thumbnail"))
        if (url := absolute_http_url(thumbnail.get("url", ""), base_url)) is not None
    ]
    if not thumbnails:
        return []
    url, thumbnail = max(thumbnails, key=lambda pair: _media_width(pair[1]))
    return [(url, _media_text(thumbnail) or item_media_text)]


def _title_attribute(link: Element) -> str:
    return _collapse_whitespace(link.get("title", ""))


def _media_group_image(group: Element, base_url: str, fallback_alt: str) -> list[tuple[str, str]]:
    group_base = _with_xml_base(group, base_url)
    renditions = [
        (url, content)
        for content in group.iterfind(_qualified(MEDIA_NS, "content"))
        if (url := _media_content_image(content, group_base)) is not None
    ]
    if not renditions:
        return []
    url, content = max(renditions, key=lambda pair: _media_width(pair[1]))
    return [(url, _media_text(content) or _media_text(group) or fallback_alt)]


# --- Sitemaps -------------------------------------------------------------------------------


def parse_sitemap(body: bytes, base_url: str) -> SitemapContent:
    """The pages and images of a sitemap ``urlset``, or the sitemaps of a ``sitemapindex``.

    A gzipped body is unpacked first, at most ``SITEMAP_MAX_BYTES`` (the
    protocol's limit), incrementally: a bomb is refused after producing at
    most that much, whatever it would unpack to. Elements are matched by
    local name, so sitemaps that forget (or misspell) their namespace read
    too. Only http(s) locations are kept.
    """
    document: bytes | bytearray = body
    if body.startswith(_GZIP_MAGIC):
        document = _gunzip_capped(body, SITEMAP_MAX_BYTES)
    elif len(body) > SITEMAP_MAX_BYTES:
        raise SourceUnreadable("a sitemap larger than 50 MB")
    root = _parse_xml(document)
    del document  # up to 50 MB the tree no longer needs
    root_name = _split_tag(root.tag)[1]
    if root_name not in ("urlset", "sitemapindex"):
        raise SourceUnreadable(f"not a sitemap (its root element is <{root_name}>)")

    pages: list[str] = []
    sitemaps: list[str] = []
    images = _FoundImages()
    for entry in root:
        entry_name = _split_tag(entry.tag)[1]
        if entry_name == "url":
            page = _sitemap_loc(entry, base_url)
            if page is not None:
                pages.append(page)
            for image in _children_named(entry, "image"):
                url = _sitemap_loc(image, base_url)
                if url is not None:
                    alt = _child_text(image, "caption") or _child_text(image, "title")
                    images.add(url, alt)
        elif entry_name == "sitemap":
            sitemap = _sitemap_loc(entry, base_url)
            if sitemap is not None:
                sitemaps.append(sitemap)
    return SitemapContent(pages=_unique(pages), images=images.as_list(), sitemaps=_unique(sitemaps))


def _children_named(element: Element, local_name: str) -> Iterator[Element]:
    return (child for child in element if _split_tag(child.tag)[1] == local_name)


def _child_text(element: Element, local_name: str) -> str:
    return _element_text(next(_children_named(element, local_name), None))


def _sitemap_loc(element: Element, base_url: str) -> str | None:
    loc = _child_text(element, "loc")
    return absolute_http_url(loc, base_url) if loc else None


def _gunzip_capped(body: bytes, limit: int) -> bytearray:
    """``body`` gunzipped (every member), refused once it would unpack to more than ``limit``."""
    unpacked = bytearray()
    pending = body
    while pending.startswith(_GZIP_MAGIC):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        while not inflater.eof:
            # Never more than one byte past the limit, however the input is built.
            try:
                chunk = inflater.decompress(pending, limit + 1 - len(unpacked))
            except zlib.error as error:
                raise SourceUnreadable(f"a damaged gzip body ({error})") from error
            progressed = chunk or len(inflater.unconsumed_tail) != len(pending)
            pending = inflater.unconsumed_tail
            unpacked += chunk
            if len(unpacked) > limit:
                raise SourceUnreadable("a sitemap larger than 50 MB unpacked")
            if not progressed:
                raise SourceUnreadable("a gzip body cut short")
        pending = inflater.unused_data
    return unpacked

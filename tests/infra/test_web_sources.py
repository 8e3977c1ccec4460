"""``web_sources``: what `gallery import` finds in pages, feeds, sitemaps and URL lists."""

from __future__ import annotations

import gzip
import zlib

import pytest

from gallery.infra.web_sources import (
    FoundImage,
    SourceUnreadable,
    absolute_http_url,
    parse_feed,
    parse_html,
    parse_sitemap,
    parse_url_list,
    sniff,
)

# --- Documents ------------------------------------------------------------------------------

PAGE_URL = "https://photos.example.com/trips/iceland/index.html"

PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <base href="https://photos.example.com/trips/iceland/">
  <title>  Iceland,
     2024 | Ana's photos </title>
  <meta property="og:title" content="Iceland in   winter">
  <meta property="og:image" content="/covers/iceland.jpg#top">
  <meta property="og:image:width" content="1200">
  <meta property="og:image:alt" content="Black sand at Reynisfjara">
  <meta property="og:image:secure_url" content="https://photos.example.com/covers/iceland.jpg">
  <meta name="twitter:image" content="https://cdn.example.com/cards/iceland.png">
  <script>
    document.write('<img src="/from-script.jpg">');
  </script>
  <style>.hero { background: url("/from-style.jpg") }</style>
</head>
<body>
  <svg><title>An icon, not the title</title></svg>
  <img src="hero-small.jpg"
       srcset="hero-small.jpg 480w, hero-large.jpg 1920w, hero-medium.jpg 960w"
       alt="Skogafoss   waterfall">
  <img src="lagoon.jpg" srcset="lagoon.jpg 1x, lagoon@2x.jpg 2x" alt="">
  <img src="lagoon@2x.jpg" alt="Glacier lagoon">
  <picture>
    <source type="image/avif" srcset="aurora-800.avif 800w, aurora-1600.avif 1600w">
    <source type="image/webp" srcset="aurora.webp">
    <img src="aurora.jpg" alt="Aurora over Thingvellir">
  </picture>
  <img class="lazy" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/lazy/geysir.jpg"
       alt="Strokkur">
  <noscript><img src="/lazy/geysir-noscript.jpg" alt="Strokkur, without script"></noscript>
  <img src="//cdn.example.com/puffin.jpg" alt="A puffin">
  <img src="https://tracker.example.net/pixel.gif?u=1" width="1" height="1" alt="">
  <img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">
  <img src="javascript:alert(1)" alt="not a photo">
  <template><img src="/from-template.jpg"></template>
  <figure>
    <img src="church.jpg" alt="">
    <figcaption>Hallgrimskirkja at   dusk</figcaption>
  </figure>
  <a href="full/seljalandsfoss.JPG"><img src="thumbs/seljalandsfoss.jpg" alt="Seljalandsfoss"></a>
  <a href="full/jokulsarlon.webp">The ice beach, full size</a>
  <a href="../norway/">Norway</a>
  <a href="/about#me">About me</a>
  <a href="/about">About (again)</a>
  <a href="https://ads.example.org/" rel="sponsored nofollow">Buy a camera</a>
  <a href="mailto:ana@example.com">Write to me</a>
  <a href="#top">Back to top</a>
  <img src="hero-large.jpg" alt="a later alt must not replace the first">
</body>
</html>
"""

RSS2_URL = "https://blog.example.com/feed/"

RSS2 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"
     xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>Ana's   photo blog</title>
    <link>https://blog.example.com/</link>
    <atom:link href="https://blog.example.com/feed/" rel="self" type="application/rss+xml"/>
    <item>
      <title>Harbour at dawn</title>
      <link>https://blog.example.com/2024/harbour/</link>
      <enclosure url="https://blog.example.com/media/harbour.jpg" length="123456"
                 type="image/jpeg"/>
      <enclosure url="https://blog.example.com/media/harbour-sounds.mp3" length="99"
                 type="audio/mpeg"/>
    </item>
    <item>
      <title>Two boats</title>
      <link>/2024/boats/</link>
      <enclosure url="/media/boats.png" length="1"/>
      <media:content url="https://blog.example.com/media/boat-red.jpg" medium="image">
        <media:description type="html">The &lt;b&gt;red&lt;/b&gt; boat</media:description>
      </media:content>
      <media:content url="https://blog.example.com/media/boat-blue.jpg" type="image/jpeg">
        <media:title>The blue boat</media:title>
      </media:content>
      <media:content url="https://blog.example.com/media/boats.mp4" medium="video"/>
    </item>
    <item>
      <title>Lighthouse</title>
      <guid isPermaLink="true">https://blog.example.com/2024/lighthouse/</guid>
      <media:group>
        <media:title>The lighthouse at Gardur</media:title>
        <media:content url="https://blog.example.com/media/lighthouse-640.jpg"
                       medium="image" width="640" height="427"/>
        <media:content url="https://blog.example.com/media/lighthouse-2048.jpg"
                       medium="image" width="2048" height="1365"/>
        <media:content url="https://blog.example.com/media/lighthouse-1024.jpg"
                       medium="image" width="1024" height="683"/>
      </media:group>
      <media:thumbnail url="https://blog.example.com/media/lighthouse-thumb.jpg"/>
    </item>
    <item>
      <title>Only a thumbnail</title>
      <link>https://blog.example.com/2024/video/</link>
      <media:thumbnail url="https://blog.example.com/media/video-thumb-small.jpg" width="120"/>
      <media:thumbnail url="https://blog.example.com/media/video-thumb-large.jpg" width="480"/>
    </item>
    <item>
      <title>Words only</title>
      <link>https://blog.example.com/2024/words/</link>
      <guid isPermaLink="false">tag:blog.example.com,2024:words</guid>
    </item>
  </channel>
</rss>
"""

ATOM_URL = "https://ana.example.net/atom.xml"

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/"
      xml:base="https://ana.example.net/">
  <title type="text">Ana on the road</title>
  <link rel="self" href="https://ana.example.net/atom.xml"/>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2024-05-01T10:00:00Z</updated>
  <entry>
    <title>Faroe cliffs</title>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2024-05-01T10:00:00Z</updated>
    <link rel="alternate" type="text/html" href="posts/faroe/"/>
    <link rel="enclosure" type="image/jpeg" href="img/faroe.jpg" length="2048"/>
    <link rel="enclosure" type="application/pdf" href="img/faroe-map.pdf"/>
  </entry>
  <entry xml:base="https://ana.example.net/posts/mykines/">
    <title type="html">Mykines &amp;amp; its puffins</title>
    <id>urn:uuid:2225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <updated>2024-05-02T10:00:00Z</updated>
    <link href="./"/>
    <media:content url="puffins.webp" type="image/webp"/>
  </entry>
</feed>
"""

RSS1_URL = "https://old.example.org/index.rdf"

RSS1 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/"
         xmlns:enc="http://purl.oclc.org/net/rss_2.0/enc#"
         xmlns:media="http://search.yahoo.com/mrss/">
  <channel rdf:about="https://old.example.org/">
    <title>Old school photos</title>
    <link>https://old.example.org/</link>
    <description>Since 2003</description>
    <items><rdf:Seq><rdf:li rdf:resource="https://old.example.org/1"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://old.example.org/1">
    <title>First roll</title>
    <link>https://old.example.org/1</link>
    <enc:enclosure rdf:resource="https://old.example.org/scans/roll1.jpg" enc:type="image/jpeg"/>
  </item>
  <item rdf:about="https://old.example.org/2">
    <title>Second roll</title>
    <link>https://old.example.org/2</link>
    <media:content url="https://old.example.org/scans/roll2.jpg" medium="image"/>
  </item>
</rdf:RDF>
"""

SITEMAP_URL = "https://shop.example.com/sitemap.xml"

SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <loc>https://shop.example.com/prints/harbour</loc>
    <lastmod>2024-04-01</lastmod>
    <image:image>
      <image:loc>https://shop.example.com/img/harbour.jpg</image:loc>
      <image:caption>  The harbour, printed on   cotton paper </image:caption>
      <image:title>Harbour print</image:title>
    </image:image>
    <image:image>
      <image:loc>https://shop.example.com/img/harbour-framed.jpg</image:loc>
      <image:title>Harbour, framed</image:title>
    </image:image>
  </url>
  <url>
    <loc>https://shop.example.com/prints/boats#reviews</loc>
    <image:image><image:loc>https://shop.example.com/img/harbour.jpg</image:loc></image:image>
  </url>
  <url><loc>ftp://shop.example.com/catalogue.pdf</loc></url>
  <url><loc>https://shop.example.com/prints/harbour</loc></url>
</urlset>
"""

SITEMAP_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap>
    <loc>https://shop.example.com/sitemap-prints.xml.gz</loc>
    <lastmod>2024-04-01T18:23:17+00:00</lastmod>
  </sitemap>
  <sitemap><loc>https://shop.example.com/sitemap-pages.xml</loc></sitemap>
  <sitemap><loc>javascript:void(0)</loc></sitemap>
</sitemapindex>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title></channel></rss>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://example.com/&secret;</loc></url>
</urlset>
"""


def _images(*pairs: tuple[str, str]) -> list[FoundImage]:
    return [FoundImage(url, alt) for url, alt in pairs]


# --- Web pages ------------------------------------------------------------------------------


def test_a_page_gives_its_photos_in_order_each_once_with_their_alt() -> None:
    page = parse_html(PAGE, PAGE_URL)

    assert page.images == _images(
        ("https://photos.example.com/covers/iceland.jpg", "Black sand at Reynisfjara"),
        ("https://cdn.example.com/cards/iceland.png", ""),
        # srcset: the widest candidate, not src nor the first.
        ("https://photos.example.com/trips/iceland/hero-large.jpg", "Skogafoss waterfall"),
        # srcset by density: 2x; its empty alt is filled by a later <img> of the same photo.
        ("https://photos.example.com/trips/iceland/lagoon@2x.jpg", "Glacier lagoon"),
        # <picture>: one photo, its first source's largest candidate, with the
        # alt of the picture's <img> (whose own src is the same photo's fallback).
        ("https://photos.example.com/trips/iceland/aurora-1600.avif", "Aurora over Thingvellir"),
        # Lazy loading: data-src, not the data: placeholder; and the <noscript> copy.
        ("https://photos.example.com/lazy/geysir.jpg", "Strokkur"),
        ("https://photos.example.com/lazy/geysir-noscript.jpg", "Strokkur, without script"),
        ("https://cdn.example.com/puffin.jpg", "A puffin"),
        ("https://photos.example.com/trips/iceland/church.jpg", "Hallgrimskirkja at dusk"),
        # A link to the full image is the photo; the thumbnail inside is not returned.
        ("https://photos.example.com/trips/iceland/full/seljalandsfoss.JPG", "Seljalandsfoss"),
        (
            "https://photos.example.com/trips/iceland/full/jokulsarlon.webp",
            "The ice beach, full size",
        ),
    )


def test_a_page_title_prefers_og_title_then_title() -> None:
    assert parse_html(PAGE, PAGE_URL).title == "Iceland in winter"
    without_og = PAGE.replace(b'property="og:title"', b'property="og:description"')
    assert parse_html(without_og, PAGE_URL).title == "Iceland, 2024 | Ana's photos"
    assert parse_html(b"<p>No title here</p>", PAGE_URL).title == ""


def test_a_page_links_are_pages_to_follow_not_images_mail_or_nofollow() -> None:
    page = parse_html(PAGE, PAGE_URL)

    assert page.links == [
        "https://photos.example.com/trips/norway/",
        "https://photos.example.com/about",
        # "#top" is the page itself (the base's), kept: the crawl knows what it visited.
        "https://photos.example.com/trips/iceland/",
    ]


def test_script_style_and_template_content_is_ignored() -> None:
    urls = {image.url for image in parse_html(PAGE, PAGE_URL).images}

    assert not any("from-" in url for url in urls)
    assert not any("pixel" in url or "tracker" in url for url in urls)


def test_a_tracking_pixel_needs_both_sides_tiny() -> None:
    page = parse_html(
        b'<img src="/a.gif" width="2px" height="1">'
        b'<img src="/banner.png" width="1" height="90">'
        b'<img src="/b.gif" width="0" height="0">',
        "http://example.com/",
    )

    assert [image.url for image in page.images] == ["http://example.com/banner.png"]


def test_without_base_href_urls_resolve_against_the_page() -> None:
    page = parse_html(
        b'<img src="a.jpg"><img src="../b.jpg"><a href="c.html">c</a><img src="//cdn.test/d.jpg">',
        "http://example.com/x/y/page.html",
    )

    assert [image.url for image in page.images] == [
        "http://example.com/x/y/a.jpg",
        "http://example.com/x/b.jpg",
        "http://cdn.test/d.jpg",
    ]
    assert page.links == ["http://example.com/x/y/c.html"]


def test_srcset_urls_may_contain_commas() -> None:
    page = parse_html(
        b'<img srcset="https://img.test/w_400,h_300/p.jpg 400w,'
        b' https://img.test/w_1600,h_1200/p.jpg 1600w">',
        "http://example.com/",
    )

    assert [image.url for image in page.images] == ["https://img.test/w_1600,h_1200/p.jpg"]


def test_a_charset_declared_in_a_meta_tag_decodes_the_alt_text() -> None:
    body = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        "<title>Caf\u00e9 \u201cNoir\u201d</title></head>"
        '<body><img src="cafe.jpg" alt="Un caf\u00e9 \u00e0 Paris \u2013 2019"></body></html>'
    ).encode("cp1252")

    page = parse_html(body, "http://example.fr/")

    assert page.title == "Caf\u00e9 \u201cNoir\u201d"
    assert page.images == _images(
        ("http://example.fr/cafe.jpg", "Un caf\u00e9 \u00e0 Paris \u2013 2019")
    )


def test_the_http_charset_wins_over_the_meta_tag_and_latin1_means_windows_1252() -> None:
    body = '<meta charset="utf-8"><img src="x.jpg" alt="\u201cquoted\u201d">'.encode("cp1252")

    page = parse_html(body, "http://example.com/", charset="ISO-8859-1")

    assert page.images[0].alt == "\u201cquoted\u201d"


def test_undecodable_bytes_and_broken_markup_are_read_leniently() -> None:
    body = (
        b'<p>caf\xe9 <img src="a.jpg" alt="caf\xe9"><![if !vml]><img src="b.png"><![endif]><a href'
    )

    page = parse_html(body, "http://example.com/")

    assert page.images == _images(
        ("http://example.com/a.jpg", "caf\ufffd"), ("http://example.com/b.png", "")
    )


def test_alt_text_is_collapsed_and_capped() -> None:
    page = parse_html(f'<img src="a.jpg" alt="{"word " * 400}">'.encode(), "http://example.com/")

    assert len(page.images[0].alt) == 1000
    assert "  " not in page.images[0].alt


# --- Feeds ----------------------------------------------------------------------------------


def test_an_rss2_feed_gives_enclosures_media_content_and_groups() -> None:
    feed = parse_feed(RSS2, RSS2_URL)

    assert feed.title == "Ana's photo blog"
    assert feed.images == _images(
        ("https://blog.example.com/media/harbour.jpg", "Harbour at dawn"),
        # No type, but an image file name; relative to the feed's URL.
        ("https://blog.example.com/media/boats.png", "Two boats"),
        ("https://blog.example.com/media/boat-red.jpg", "The red boat"),
        ("https://blog.example.com/media/boat-blue.jpg", "The blue boat"),
        # A media:group holds renditions of one photo: the largest, with the group's title.
        ("https://blog.example.com/media/lighthouse-2048.jpg", "The lighthouse at Gardur"),
        # A thumbnail only where the item has nothing else (its largest).
        ("https://blog.example.com/media/video-thumb-large.jpg", "Only a thumbnail"),
    )
    assert feed.links == [
        "https://blog.example.com/2024/harbour/",
        "https://blog.example.com/2024/boats/",
        "https://blog.example.com/2024/lighthouse/",
        "https://blog.example.com/2024/video/",
        "https://blog.example.com/2024/words/",
    ]


def test_an_atom_feed_gives_image_enclosures_and_media_resolved_with_xml_base() -> None:
    feed = parse_feed(ATOM, ATOM_URL)

    assert feed.title == "Ana on the road"
    assert feed.images == _images(
        ("https://ana.example.net/img/faroe.jpg", "Faroe cliffs"),
        ("https://ana.example.net/posts/mykines/puffins.webp", "Mykines & its puffins"),
    )
    assert feed.links == [
        "https://ana.example.net/posts/faroe/",
        "https://ana.example.net/posts/mykines/",
    ]


def test_an_rss1_feed_gives_its_items_images() -> None:
    feed = parse_feed(RSS1, RSS1_URL)

    assert feed.title == "Old school photos"
    assert feed.images == _images(
        ("https://old.example.org/scans/roll1.jpg", "First roll"),
        ("https://old.example.org/scans/roll2.jpg", "Second roll"),
    )
    assert feed.links == ["https://old.example.org/1", "https://old.example.org/2"]


def test_a_feed_with_a_blank_line_before_the_xml_declaration_still_reads() -> None:
    assert parse_feed(b"\n\n" + RSS2, RSS2_URL).title == "Ana's photo blog"


def test_a_document_that_is_not_a_feed_is_refused() -> None:
    with pytest.raises(SourceUnreadable):
        parse_feed(SITEMAP, RSS2_URL)


# --- Sitemaps -------------------------------------------------------------------------------


def test_a_sitemap_gives_its_pages_and_google_image_entries() -> None:
    sitemap = parse_sitemap(SITEMAP, SITEMAP_URL)

    assert sitemap.pages == [
        "https://shop.example.com/prints/harbour",
        "https://shop.example.com/prints/boats",
    ]
    assert sitemap.images == _images(
        ("https://shop.example.com/img/harbour.jpg", "The harbour, printed on cotton paper"),
        ("https://shop.example.com/img/harbour-framed.jpg", "Harbour, framed"),
    )
    assert sitemap.sitemaps == []


def test_a_sitemap_index_gives_its_sitemaps() -> None:
    index = parse_sitemap(SITEMAP_INDEX, "https://shop.example.com/sitemap_index.xml")

    assert index.sitemaps == [
        "https://shop.example.com/sitemap-prints.xml.gz",
        "https://shop.example.com/sitemap-pages.xml",
    ]
    assert index.pages == []
    assert index.images == []


def test_a_gzipped_sitemap_is_unpacked() -> None:
    sitemap = parse_sitemap(gzip.compress(SITEMAP), SITEMAP_URL + ".gz")

    assert sitemap == parse_sitemap(SITEMAP, SITEMAP_URL)


def test_a_gzip_bomb_is_refused_after_at_most_50_mb() -> None:
    # 100 MB of zeros, compressed a megabyte at a time: the test never holds them.
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    megabyte_of_zeros = bytes(1024 * 1024)
    bomb = b"".join(packer.compress(megabyte_of_zeros) for _ in range(100)) + packer.flush()
    assert len(bomb) < 200_000

    with pytest.raises(SourceUnreadable, match="larger than 50 MB unpacked"):
        parse_sitemap(bomb, SITEMAP_URL + ".gz")


def test_a_truncated_or_damaged_gzip_is_refused() -> None:
    packed = gzip.compress(SITEMAP)

    with pytest.raises(SourceUnreadable):
        parse_sitemap(packed[: len(packed) // 2], SITEMAP_URL + ".gz")
    with pytest.raises(SourceUnreadable):
        parse_sitemap(packed[:10] + b"\xff" * 40 + packed[50:], SITEMAP_URL + ".gz")


# --- Hostile and broken XML -----------------------------------------------------------------


def test_billion_laughs_is_refused() -> None:
    with pytest.raises(SourceUnreadable):
        parse_feed(BILLION_LAUGHS, RSS2_URL)
    with pytest.raises(SourceUnreadable):
        parse_sitemap(BILLION_LAUGHS, SITEMAP_URL)


def test_an_external_entity_is_refused() -> None:
    with pytest.raises(SourceUnreadable):
        parse_sitemap(EXTERNAL_ENTITY, SITEMAP_URL)


@pytest.mark.parametrize(
    "body",
    [
        b"<rss><channel><title>unclosed</channel></rss>",
        b'<?xml version="1.0"?><rss><channel><title>&nbsp;</title></channel></rss>',
        b"",
        b"\x00\x01 not xml at all",
    ],
)
def test_malformed_xml_is_refused(body: bytes) -> None:
    with pytest.raises(SourceUnreadable):
        parse_feed(body, RSS2_URL)
    with pytest.raises(SourceUnreadable):
        parse_sitemap(body, SITEMAP_URL)


# --- Sniffing -------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
GIF = b"GIF89a\x01\x00\x01\x00"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 "
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"
AVIF = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00"


@pytest.mark.parametrize(
    ("content_type", "body", "url", "kind"),
    [
        ("text/html", PAGE, PAGE_URL, "html"),
        ("application/xhtml+xml", b'<?xml version="1.0"?><html xmlns="x"/>', "", "html"),
        ("application/rss+xml", RSS2, RSS2_URL, "feed"),
        ("application/atom+xml", ATOM, ATOM_URL, "feed"),
        ("text/plain", b"https://a.test/1.jpg\n", "", "urls"),
        ("image/webp", WEBP, "", "image"),
        # image/* is trusted: the pipeline decodes the bytes and refuses a non-image later.
        ("image/jpeg", PAGE, "https://example.com/photo.jpg", "image"),
        # Vague types: the body decides.
        ("text/xml", SITEMAP, SITEMAP_URL, "sitemap"),
        ("application/xml", SITEMAP_INDEX, "", "sitemap"),
        ("application/xml", RSS2, "", "feed"),
        ("", ATOM, "", "feed"),
        ("text/xml", RSS1, "", "feed"),
        ("application/octet-stream", b"\xef\xbb\xbf  <!-- hi -->\n<!DOCTYPE html><p>", "", "html"),
        ("", b"<HTML><body>", "", "html"),
        ("application/rdf+xml", RSS1, "", "feed"),
        (
            "application/octet-stream",
            gzip.compress(SITEMAP),
            "https://a.test/s.xml.gz?v=2",
            "sitemap",
        ),
        ("application/x-gzip", gzip.compress(SITEMAP), "https://a.test/s.xml.gz", "sitemap"),
        (
            "application/octet-stream",
            gzip.compress(SITEMAP),
            "https://a.test/backup.tar.gz",
            "unknown",
        ),
        ("application/octet-stream", JPEG, "", "image"),
        ("", PNG, "", "image"),
        ("", GIF, "", "image"),
        ("", HEIC, "", "image"),
        ("", AVIF, "", "image"),
        ("", b"# my list\nhttps://a.test/1.jpg\n", "", "urls"),
        ("application/xml", b'<?xml version="1.0"?><kml xmlns="http://x"/>', "", "unknown"),
        ("application/json", b'{"photos": []}', "", "unknown"),
        ("", b"", "", "unknown"),
        # Common misconfigurations, read by what the body is.
        ("text/html", RSS2, RSS2_URL, "feed"),
        ("text/plain", SITEMAP, SITEMAP_URL, "sitemap"),
        # A doctype with an internal subset holding '>' is skipped as a whole.
        ("text/xml", b'<!DOCTYPE rss [<!ENTITY a "<b>">]>\n<rss version="2.0"/>', "", "feed"),
    ],
)
def test_sniff(content_type: str, body: bytes, url: str, kind: str) -> None:
    assert sniff(content_type, body, url) == kind


def test_sniff_reads_a_utf16_xml_body() -> None:
    body = '<?xml version="1.0" encoding="UTF-16"?><urlset/>'.encode("utf-16")

    assert sniff("application/xml", body) == "sitemap"


# --- URL lists and URLs ---------------------------------------------------------------------


def test_a_url_list_skips_comments_blanks_junk_and_repeats() -> None:
    text = """\ufeff# Photos for the Iceland album
https://photos.example.com/a.jpg

   https://photos.example.com/b.jpg#fragment   \t
# https://photos.example.com/commented-out.jpg
ftp://photos.example.com/c.jpg
not a url at all
javascript:alert(1)
/relative/d.jpg
//cdn.example.com/e.jpg
https://photos.example.com/a.jpg
"""

    assert parse_url_list(text) == [
        "https://photos.example.com/a.jpg",
        "https://photos.example.com/b.jpg",
    ]
    assert parse_url_list(text, base_url="https://photos.example.com/lists/list.txt") == [
        "https://photos.example.com/a.jpg",
        "https://photos.example.com/b.jpg",
        "https://photos.example.com/relative/d.jpg",
        "https://cdn.example.com/e.jpg",
    ]


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("photo.jpg#x", "https://example.com/dir/photo.jpg"),
        ("  /a b/\u00e9t\u00e9.jpg  ", "https://example.com/a%20b/%C3%A9t%C3%A9.jpg"),
        ("//CDN.Example.COM/P.jpg", "https://cdn.example.com/P.jpg"),
        ("http://example.org", "http://example.org/"),
        ("?page=2", "https://example.com/dir/page.html?page=2"),
        ("data:image/png;base64,AAAA", None),
        ("mailto:a@example.com", None),
        ("javascript:void(0)", None),
        ("ftp://example.com/a.jpg", None),
        ("", None),
        ("http://[::1", None),
        ("http://example.com:99999/", None),
        ("http:///no-host", None),
    ],
)
def test_absolute_http_url(href: str, expected: str | None) -> None:
    assert absolute_http_url(href, "https://example.com/dir/page.html") == expected

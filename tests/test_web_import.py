"""`gallery import URL`: a crawl of a real local web site (``tests/web_site.py``) into
a real account, through the real fetcher, parsers and upload pipeline.

The site has pages with photos (``<img>``, ``<picture>``, ``og:image``), a page a
link deeper, an RSS feed, a sitemap index with an image sitemap, a list of
addresses, a ``robots.txt`` that disallows a folder, a photo behind a 429 with
``Retry-After``, a slow host, a redirect loop, an HTML file named ``.jpg``, one
photo under two addresses and a 50 MB body. Exactly the expected photos are
imported, the disallowed ones are never requested, no host sees more than its
limit at once, and a rerun imports nothing new.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image as PILImage
from quart import Quart
from sqlalchemy import select

from gallery.cli import ProgressLine
from gallery.infra.runtime import Runtime
from gallery.infra.web_fetch import MB, FetchPolicy, PoliteFetcher
from gallery.models import Image
from gallery.services.web_import import ImportLimits, ImportReport, Skipped, WebImport
from gallery.settings import Settings
from tests.helpers import (
    add_user_row,
    make_active_user,
    moderator_client,
    page_html,
    signed_in,
    user_id_of,
)
from tests.images import jpeg_bytes
from tests.test_cli import REPO, gallery_env
from tests.web_site import TestSite

POLICY = FetchPolicy(
    user_agent="GalleryImporter/1.0 (+http://gallery.test)",
    concurrency=6,
    per_host=2,
    delay_seconds=0.05,
    backoff_seconds=0.05,
    read_timeout=1.0,
    total_timeout=10.0,
)
LIMITS = ImportLimits(max_photo_bytes=16 * MB)


def photo(shade: int) -> bytes:
    """A JPEG of its own colour: different bytes and a different picture for each shade."""
    return jpeg_bytes(320, 240, (shade, 255 - shade, (shade * 7) % 256))


pytestmark = pytest.mark.usefixtures("no_proxy_from_the_environment")


@pytest.fixture
def site() -> Iterator[TestSite]:
    with TestSite() as test_site:
        build_site(test_site)
        yield test_site


# What the site's photos are, by path; the crawl must import exactly these.
PHOTOS = {
    "/photos/boats.jpg": photo(10),
    "/photos/harbour-wide.jpg": photo(40),
    "/photos/lighthouse.jpg": photo(70),
    "/photos/deeper.jpg": photo(100),
    "/photos/busy.jpg": photo(130),
    "/photos/from-the-feed.jpg": photo(160),
    "/photos/from-the-sitemap.jpg": photo(190),
    "/photos/on-a-sitemapped-page.jpg": photo(220),
}
SECRET = photo(250)


def build_site(site: TestSite) -> None:
    other_host = site.url("/", host="localhost").rstrip("/")
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.page(
        "/harbour.html",
        f"""<!doctype html><html><head><title>A walk by the harbour</title>
        <meta property="og:image" content="/photos/lighthouse.jpg"></head><body>
        <img src="/photos/boats.jpg" alt="Boats at dawn">
        <picture><source srcset="/photos/harbour-small.jpg 480w, /photos/harbour-wide.jpg 1600w">
          <img src="/photos/harbour-small.jpg" alt="The harbour from the hill"></picture>
        <img src="/private/secret.jpg" alt="Not for crawlers">
        <img src="/copies/boats-again.jpg" alt="The same boats">
        <img src="/photos/fake.jpg" alt="A page pretending">
        <img src="/photos/huge.jpg" alt="Fifty megabytes">
        <img src="/photos/loop.jpg" alt="Round and round">
        <img src="/photos/busy.jpg" alt="Come back later">
        <img src="{other_host}/photos/slow.jpg" alt="Far away">
        <a href="/more.html">More</a>
        <a href="{other_host}/elsewhere.html">Another site</a>
        </body></html>""",
    )
    site.page("/more.html", '<html><body><img src="/photos/deeper.jpg"></body></html>')
    site.page(
        "/feed.xml",
        """<?xml version="1.0"?>
        <rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
        <title>Harbour news</title>
        <item><title>Fresh from the sea</title>
          <enclosure url="/photos/from-the-feed.jpg" type="image/jpeg" length="1"/></item>
        <item><title>Boats again</title>
          <media:content url="/photos/boats.jpg" medium="image"/></item>
        </channel></rss>""",
        "application/rss+xml",
    )
    site.page(
        "/sitemap.xml",
        """<?xml version="1.0"?>
        <sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
        <sitemap><loc>/sitemap-images.xml</loc></sitemap></sitemapindex>""",
        "application/xml",
    )
    site.page(
        "/sitemap-images.xml",
        """<?xml version="1.0"?>
        <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
                xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
        <url><loc>/sitemapped.html</loc>
          <image:image><image:loc>/photos/from-the-sitemap.jpg</image:loc>
          <image:caption>Nets drying</image:caption></image:image></url>
        </urlset>""",
        "application/xml",
    )
    site.page(
        "/sitemapped.html",
        '<html><body><img src="/photos/on-a-sitemapped-page.jpg" alt="Gulls"></body></html>',
    )
    site.page("/elsewhere.html", '<html><body><img src="/photos/boats.jpg"></body></html>')
    for path, data in PHOTOS.items():
        if path != "/photos/busy.jpg":
            site.page(path, data, "image/jpeg")
    site.page("/copies/boats-again.jpg", PHOTOS["/photos/boats.jpg"], "image/jpeg")
    site.page("/private/secret.jpg", SECRET, "image/jpeg")
    site.page("/photos/fake.jpg", "<html><body>Not a photo</body></html>", "image/jpeg")
    site.drip("/photos/huge.jpg", 50 * MB, "image/jpeg", with_length=True)
    site.redirect("/photos/loop.jpg", "/photos/loop-again.jpg")
    site.redirect("/photos/loop-again.jpg", "/photos/loop.jpg")
    site.throttled("/photos/busy.jpg", PHOTOS["/photos/busy.jpg"], "image/jpeg", 1, "1")
    site.slow("/photos/slow.jpg", photo(5), "image/jpeg", delay_seconds=3.0)


async def crawl(
    runtime: Runtime, user_id: int, addresses: list[str], limits: ImportLimits = LIMITS
) -> ImportReport:
    async with PoliteFetcher(POLICY) as fetcher:
        run = WebImport(
            runtime.db, runtime.storage, runtime.redis, fetcher, author_id=user_id, limits=limits
        )
        return await run.run(addresses)


async def imported_posts(runtime: Runtime, user_id: int) -> list[Image]:
    async with runtime.db.session() as session:
        return list(
            await session.scalars(
                select(Image).where(Image.author_id == user_id).order_by(Image.id)
            )
        )


def colour_of(data: bytes) -> tuple[int, ...]:
    with PILImage.open(io.BytesIO(data)) as picture:
        return tuple(picture.convert("RGB").getpixel((5, 5)))  # type: ignore[arg-type]


async def test_a_site_is_crawled_politely_and_exactly_its_photos_are_imported(
    runtime: Runtime, site: TestSite
) -> None:
    alice_id = await make_active_user(runtime, "alice", "alice@example.com")
    sources = [
        site.url("/harbour.html"),
        site.url("/feed.xml"),
        site.url("/sitemap.xml"),
    ]
    report = await crawl(runtime, alice_id, sources, dataclasses.replace(LIMITS, depth=1))

    posts = await imported_posts(runtime, alice_id)
    by_source = {post.source_url: post for post in posts}
    # One photo is served under two addresses: whichever is fetched first is
    # imported, the other is skipped as the same photo.
    boats = {site.url("/photos/boats.jpg"), site.url("/copies/boats-again.jpg")}
    (boats_imported,) = boats & set(by_source)
    (boats_skipped,) = boats - {boats_imported}
    expected = {site.url(path) for path in PHOTOS} - boats
    assert set(by_source) - boats == expected
    assert report.imported == len(PHOTOS) == len(posts)
    # Each post is the photo its address served, through the pipeline.
    for path, data in PHOTOS.items():
        url = boats_imported if site.url(path) in boats else site.url(path)
        stored = await runtime.storage.open(by_source[url].cover.original_key)
        assert colour_of(stored) == pytest.approx(colour_of(data), abs=6)
    # Captions: the alt text, else the page's or feed's title.
    harbour = by_source[site.url("/photos/harbour-wide.jpg")]
    assert harbour.description == "The harbour from the hill"
    assert harbour.cover.alt_text == "The harbour from the hill"
    assert by_source[site.url("/photos/lighthouse.jpg")].description == "A walk by the harbour"
    assert by_source[site.url("/photos/from-the-feed.jpg")].description == "Fresh from the sea"
    assert by_source[site.url("/photos/from-the-sitemap.jpg")].description == "Nets drying"

    skipped = {skip.url: skip for skip in report.skipped}
    assert skipped[site.url("/private/secret.jpg")].kind == "robots"
    assert skipped[boats_skipped].kind == "duplicate"
    assert skipped[site.url("/photos/fake.jpg")].kind == "not-an-image"
    assert skipped[site.url("/photos/huge.jpg")].kind == "too-large"
    assert skipped[site.url("/photos/loop.jpg")].kind == "redirects"
    assert skipped[site.url("/photos/slow.jpg", host="localhost")].kind == "timeout"
    assert set(skipped) == {
        site.url("/private/secret.jpg"),
        boats_skipped,
        site.url("/photos/fake.jpg"),
        site.url("/photos/huge.jpg"),
        site.url("/photos/loop.jpg"),
        site.url("/photos/slow.jpg", host="localhost"),
    }

    # Politely: the disallowed folder was never asked for, robots.txt once per
    # host, the 429 waited for and asked again once, the other site's page not
    # followed, nobody above the per-host limit, the 50 MB not downloaded.
    assert not [path for path in site.paths_requested() if path.startswith("/private/")]
    assert site.paths_requested("127.0.0.1").count("/robots.txt") == 1
    assert site.paths_requested("localhost").count("/robots.txt") == 1
    assert site.paths_requested().count("/photos/busy.jpg") == 2
    assert "/elsewhere.html" not in site.paths_requested()
    assert {request.user_agent for request in site.requests} == {POLICY.user_agent}
    for host in ("127.0.0.1", "localhost"):
        assert site.max_in_flight(host) <= POLICY.per_host
    sent = await asyncio.to_thread(site.bytes_sent, "/photos/huge.jpg")
    assert sent < 20 * MB

    # A rerun imports nothing new: the addresses are known, and so are the bytes.
    again = await crawl(runtime, alice_id, sources, dataclasses.replace(LIMITS, depth=1))
    assert again.imported == 0
    assert len(await imported_posts(runtime, alice_id)) == len(PHOTOS)
    assert {skip.kind for skip in again.skipped} >= {"imported-before"}


async def test_depth_zero_stays_on_the_page_and_max_stops_the_crawl(
    runtime: Runtime, site: TestSite
) -> None:
    alice_id = await make_active_user(runtime, "alice", "alice@example.com")
    report = await crawl(runtime, alice_id, [site.url("/harbour.html")])
    sources = {post.source_url for post in await imported_posts(runtime, alice_id)}
    assert site.url("/photos/deeper.jpg") not in sources
    assert "/more.html" not in site.paths_requested()
    assert report.imported == 4  # boats, harbour-wide, lighthouse, busy

    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    stopped = await crawl(
        runtime,
        bob_id,
        [site.url("/harbour.html"), site.url("/feed.xml")],
        dataclasses.replace(LIMITS, max_photos=2),
    )
    assert stopped.reached_max
    assert stopped.imported == 2
    assert len(await imported_posts(runtime, bob_id)) == 2


async def test_each_account_imports_a_photo_once(runtime: Runtime, site: TestSite) -> None:
    """Alice's imports do not stop Bob's: a photo is imported once per account."""
    alice_id = await make_active_user(runtime, "alice", "alice@example.com")
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    page = [site.url("/more.html")]
    assert (await crawl(runtime, alice_id, page)).imported == 1
    assert (await crawl(runtime, bob_id, page)).imported == 1


# -- the command --------------------------------------------------------------------


def gallery_command(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gallery.cli", "import", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def without_proxies(env: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in env.items() if not key.lower().endswith("_proxy")}


@pytest.mark.slow
async def test_the_command_reads_a_list_of_addresses_and_sums_up(
    runtime: Runtime, settings: Settings, site: TestSite, tmp_path: Path
) -> None:
    await make_active_user(runtime, "alice", "alice@example.com")
    listing = tmp_path / "addresses.txt"
    listing.write_text(
        f"# what to import\n{site.url('/more.html')}\n\n{site.url('/private/secret.jpg')}\n"
    )
    env = without_proxies(gallery_env(settings))
    command = gallery_command(str(listing), "--user", "alice", "--delay", "0", env=env)
    out, err = await asyncio.to_thread(command.communicate, timeout=120)
    assert command.returncode == 0, err
    assert "Imported 1 photo from the web" in out
    assert "disallowed by robots.txt: 1" in out
    assert f"{site.url('/private/secret.jpg')}: disallowed by robots.txt" in out

    again = gallery_command(str(listing), "--user", "alice", "--delay", "0", env=env)
    out, err = await asyncio.to_thread(again.communicate, timeout=120)
    assert again.returncode == 1, (out, err)  # nothing imported this time
    assert "Imported 0 photos from the web" in out
    assert "imported before: 1" in out

    await add_user_row(runtime, "Waiting", active=False)
    refused = gallery_command(site.url("/more.html"), "--user", "waiting", env=env)
    _, err = await asyncio.to_thread(refused.communicate, timeout=120)
    assert refused.returncode == 2
    assert "Waiting has not activated their account." in err
    assert "/photos/deeper.jpg" in site.paths_requested()


@pytest.mark.slow
async def test_ctrl_c_stops_cleanly_and_the_same_command_continues(
    runtime: Runtime, settings: Settings, site: TestSite
) -> None:
    alice_id = await make_active_user(runtime, "alice", "alice@example.com")
    # Twenty photos on a page, served one every half second: Ctrl-C comes mid-way.
    shades = range(20, 220, 10)
    site.page(
        "/many.html",
        "".join(f'<img src="/many/{shade}.jpg" alt="Shade {shade}">' for shade in shades),
    )
    for shade in shades:
        site.slow(f"/many/{shade}.jpg", photo(shade), "image/jpeg", delay_seconds=0.5)
    env = without_proxies(gallery_env(settings))
    args = (site.url("/many.html"), "--user", "alice", "--delay", "0", "--per-host", "1")
    command = gallery_command(*args, env=env)
    try:
        for _ in range(600):
            if len(await imported_posts(runtime, alice_id)) >= 3:
                break
            assert command.poll() is None, command.communicate()
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the import never got going")
        os.kill(command.pid, signal.SIGINT)
        out, err = await asyncio.to_thread(command.communicate, timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 130, (out, err)
    assert "Stopped. The same command continues" in out
    assert "Traceback" not in err
    first = await imported_posts(runtime, alice_id)
    assert 3 <= len(first) < len(shades)

    rest = gallery_command(*args, env=env)
    out, err = await asyncio.to_thread(rest.communicate, timeout=120)
    assert rest.returncode == 0, err
    posts = await imported_posts(runtime, alice_id)
    assert sorted(post.description for post in posts) == sorted(f"Shade {s}" for s in shades)
    assert f"imported before: {len(first)}" in out


def test_the_progress_line_shows_found_fetched_imported_and_skips_by_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = ProgressLine(enabled=True)
    report = ImportReport(found=8, fetched=6, imported=4)
    report.skipped += [
        Skipped("http://a.example/1.jpg", "robots", "disallowed by robots.txt"),
        Skipped("http://a.example/2.jpg", "robots", "disallowed by robots.txt"),
        Skipped("http://a.example/3.jpg", "too-large", "larger than 16.0 MB"),
    ]
    line.show(report)
    line.close()
    drawn = capsys.readouterr().err
    assert drawn.startswith("\rImporting [")
    assert "found 8 · fetched 6 · imported 4 · skipped 3" in drawn
    assert "(disallowed by robots.txt 2, too large 1)" in drawn
    # 7 of 8 done: the bar is seven eighths full.
    assert "#" * 21 + "-" * 3 + "]" in drawn

    quiet = ProgressLine(enabled=False)  # not a terminal: the summary says it all
    quiet.show(report)
    quiet.close()
    assert capsys.readouterr().err == ""


async def test_where_a_photo_came_from_is_shown_to_its_owner_and_moderators(
    app: Quart, runtime: Runtime, site: TestSite
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    alice_id = await user_id_of(runtime, "alice")
    (post_id,) = (await crawl(runtime, alice_id, [site.url("/more.html")])).imported_posts
    source = site.url("/photos/deeper.jpg")

    mine = await (await alice.get(f"/api/v1/images/{post_id}")).get_json()
    assert mine["source_url"] == source
    page = await page_html(alice, f"/images/{post_id}")
    assert f'Imported from <a href="{source}"' in page
    moderator = await moderator_client(app, runtime)
    assert "Imported from" in await page_html(moderator, f"/images/{post_id}")

    bob, _ = await signed_in(app, runtime, "bob")
    theirs = await (await bob.get(f"/api/v1/images/{post_id}")).get_json()
    assert theirs["source_url"] is None
    assert "Imported from" not in await page_html(bob, f"/images/{post_id}")
    anonymous = await (await app.test_client().get(f"/api/v1/images/{post_id}")).get_json()
    assert anonymous["source_url"] is None
    feed = await (await alice.get("/api/v1/feed")).get_json()
    assert [item["source_url"] for item in feed["items"]] == [None]


async def test_photo_addresses_given_directly_are_imported_once(
    runtime: Runtime, site: TestSite
) -> None:
    alice_id = await make_active_user(runtime, "alice", "alice@example.com")
    addresses = [site.url("/photos/boats.jpg"), site.url("/photos/lighthouse.jpg")]
    assert (await crawl(runtime, alice_id, addresses)).imported == 2
    site.reset_log()
    again = await crawl(runtime, alice_id, addresses)
    assert again.imported == 0
    assert {skip.kind for skip in again.skipped} == {"imported-before"}
    assert [path for path in site.paths_requested() if path.startswith("/photos/")] == []

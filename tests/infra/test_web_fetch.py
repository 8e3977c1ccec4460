"""The importer's HTTP layer against a real local web site: polite, bounded, never fooled.

Every assertion reads what the site saw (paths, overlaps, start times, bytes it
got out), not how fast we were: spacing is checked as a lower bound between two
starts the server logged, never as a measured duration of our own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web

from gallery.infra.web_fetch import MB, FetchPolicy, FetchRefused, PoliteFetcher
from tests.web_site import LoggedRequest, TestSite

USER_AGENT = "GalleryImporter/1.0 (+https://photos.example.org)"
# Quick by default: no spacing, tiny back-offs. Tests that look at a limit set it.
POLICY = FetchPolicy(
    user_agent=USER_AGENT,
    delay_seconds=0.0,
    backoff_seconds=0.01,
    connect_timeout=5.0,
    read_timeout=5.0,
    total_timeout=20.0,
)
LIMIT = 16 * MB
FIFTY_MB = 50 * MB
# The fetcher spaces the moments it sends; the site logs when requests arrive, each
# after its own trip through the client and the loopback (a few milliseconds under
# load). A gap the site sees may be short of the delay by that much, never by more.
ARRIVAL_JITTER_SECONDS = 0.05
# A bound on a whole test's fetches, so a regression hangs nothing: never an assertion.
HANG_GUARD_SECONDS = 30.0


pytestmark = pytest.mark.usefixtures("no_proxy_from_the_environment")


@pytest.fixture
def site() -> Iterator[TestSite]:
    with TestSite() as test_site:
        yield test_site


def policy(**changes: object) -> FetchPolicy:
    return dataclasses.replace(POLICY, **changes)  # type: ignore[arg-type]


def requests_to(site: TestSite, path: str) -> list[LoggedRequest]:
    return [r for r in site.requests if r.path == path]


def a_closed_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def refusal_of(fetcher: PoliteFetcher, url: str, max_bytes: int = LIMIT) -> FetchRefused:
    with pytest.raises(FetchRefused) as refused:
        await fetcher.fetch(url, max_bytes=max_bytes)
    return refused.value


async def test_a_page_comes_with_its_final_url_media_type_and_charset(site: TestSite) -> None:
    site.page("/hello", "<p>grüß</p>".encode("latin-1"), 'Text/HTML; Charset="ISO-8859-1"')
    async with PoliteFetcher(POLICY) as fetcher:
        fetched = await fetcher.fetch(site.url("/hello#top"), max_bytes=LIMIT)
    assert fetched.url == site.url("/hello")  # the fragment is dropped
    assert fetched.status == 200
    assert fetched.content_type == "text/html"
    assert fetched.charset == "iso-8859-1"
    assert fetched.body.decode("latin-1") == "<p>grüß</p>"
    assert [r.user_agent for r in site.requests] == [USER_AGENT, USER_AGENT]


async def test_robots_txt_keeps_us_out_of_disallowed_paths(site: TestSite) -> None:
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.page("/public/a", "a")
    site.page("/private/b", "b")
    async with PoliteFetcher(POLICY) as fetcher:
        outcomes = await asyncio.gather(
            fetcher.fetch(site.url("/public/a"), max_bytes=LIMIT),
            fetcher.fetch(site.url("/private/b"), max_bytes=LIMIT),
            fetcher.fetch(site.url("/private/c?x=1"), max_bytes=LIMIT),
            fetcher.fetch(site.url("/public/a?again"), max_bytes=LIMIT),
            return_exceptions=True,
        )
        assert await fetcher.allowed(site.url("/public/z"))
        assert not await fetcher.allowed(site.url("/private/z"))
    public, private, private_with_query, public_again = outcomes
    for fetched in (public, public_again):
        assert not isinstance(fetched, BaseException) and fetched.body == b"a"
    for refusal in (private, private_with_query):
        assert isinstance(refusal, FetchRefused)
        assert (refusal.kind, refusal.reason) == ("robots", "disallowed by robots.txt")
    assert not any(path.startswith("/private/") for path in site.paths_requested())
    # Five concurrent first requests to the origin waited for one robots.txt.
    assert site.paths_requested().count("/robots.txt") == 1
    assert requests_to(site, "/robots.txt")[0].user_agent == USER_AGENT


async def test_the_group_for_our_product_token_is_the_one_obeyed(site: TestSite) -> None:
    site.page(
        "/robots.txt",
        "User-agent: *\nDisallow:\n\nUser-agent: galleryimporter\nDisallow: /photos/\n",
        "text/plain",
    )
    async with PoliteFetcher(POLICY) as fetcher:
        assert not await fetcher.allowed(site.url("/photos/1.jpg"))
        assert await fetcher.allowed(site.url("/about"))


async def test_a_missing_robots_txt_allows_everything(site: TestSite) -> None:
    site.page("/anything", "ok")
    async with PoliteFetcher(POLICY) as fetcher:
        fetched = await fetcher.fetch(site.url("/anything"), max_bytes=LIMIT)
    assert fetched.body == b"ok"
    assert site.paths_requested() == ["/robots.txt", "/anything"]


async def test_a_robots_txt_that_cannot_be_fetched_disallows_everything(site: TestSite) -> None:
    site.page("/robots.txt", "down for maintenance", "text/plain", status=503)
    site.page("/anything", "ok")
    async with PoliteFetcher(policy(retries=1)) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/anything"))
        assert not await fetcher.allowed(site.url("/other"))
    assert refusal.kind == "robots"
    assert refusal.reason == "robots.txt could not be fetched (HTTP 503)"
    # robots.txt was tried again once, and is not asked for again by later URLs.
    assert site.paths_requested() == ["/robots.txt", "/robots.txt"]


async def test_a_host_that_does_not_answer_is_a_network_failure() -> None:
    async with PoliteFetcher(policy(retries=1)) as fetcher:
        refusal = await refusal_of(fetcher, f"http://127.0.0.1:{a_closed_port()}/a")
        assert fetcher.requests_made == 2  # robots.txt, tried twice
    assert refusal.kind == "robots"
    assert refusal.reason.startswith("robots.txt could not be fetched (could not connect: ")


@pytest.mark.parametrize("crawl_delay, seconds", [("1", 1.0), ("0.4", 0.4)])
async def test_crawl_delay_spaces_the_starts_of_requests_to_a_host(
    site: TestSite, crawl_delay: str, seconds: float
) -> None:
    site.page("/robots.txt", f"User-agent: *\nCrawl-delay: {crawl_delay}\n", "text/plain")
    site.page("/a", "a")
    site.page("/b", "b")
    async with asyncio.timeout(HANG_GUARD_SECONDS), PoliteFetcher(POLICY) as fetcher:
        await asyncio.gather(
            fetcher.fetch(site.url("/a"), max_bytes=LIMIT),
            fetcher.fetch(site.url("/b"), max_bytes=LIMIT),
        )
    starts = sorted(r.started for r in site.requests)
    assert len(starts) == 3
    assert starts[2] - starts[1] >= seconds - ARRIVAL_JITTER_SECONDS
    # robots.txt's own start counts too
    assert starts[1] - starts[0] >= seconds - ARRIVAL_JITTER_SECONDS


async def test_a_long_crawl_delay_is_honoured_only_up_to_the_cap(site: TestSite) -> None:
    site.page("/robots.txt", "User-agent: *\nCrawl-delay: 3600\n", "text/plain")
    site.page("/a", "a")
    site.page("/b", "b")
    async with (
        asyncio.timeout(HANG_GUARD_SECONDS),
        PoliteFetcher(policy(max_crawl_delay=0.3)) as fetcher,
    ):
        await fetcher.fetch(site.url("/a"), max_bytes=LIMIT)
        await fetcher.fetch(site.url("/b"), max_bytes=LIMIT)
    (a,) = requests_to(site, "/a")
    (b,) = requests_to(site, "/b")
    assert b.started - a.started >= 0.3 - ARRIVAL_JITTER_SECONDS


async def test_no_more_than_per_host_requests_to_one_host_at_once(site: TestSite) -> None:
    site.slow("/slow", b"done", "text/plain", delay_seconds=0.2)
    async with PoliteFetcher(policy(per_host=2, concurrency=8)) as fetcher:
        await asyncio.gather(
            *(fetcher.fetch(site.url("/slow"), max_bytes=LIMIT) for _ in range(12))
        )
    assert site.paths_requested().count("/slow") == 12
    assert site.max_in_flight("127.0.0.1") == 2


async def test_each_host_has_its_own_limit_within_the_global_one(site: TestSite) -> None:
    site.slow("/slow", b"done", "text/plain", delay_seconds=0.2)
    hosts = ("127.0.0.1", "localhost")
    async with PoliteFetcher(policy(per_host=2, concurrency=4)) as fetcher:
        await asyncio.gather(
            *(
                fetcher.fetch(site.url("/slow", host=host), max_bytes=LIMIT)
                for _ in range(12)
                for host in hosts
            )
        )
    assert [site.max_in_flight(host) for host in hosts] == [2, 2]
    assert site.max_in_flight() == 4


async def test_the_global_limit_holds_across_hosts(site: TestSite) -> None:
    site.slow("/slow", b"done", "text/plain", delay_seconds=0.2)
    hosts = ("127.0.0.1", "localhost")
    async with PoliteFetcher(policy(per_host=2, concurrency=3)) as fetcher:
        await asyncio.gather(
            *(
                fetcher.fetch(site.url("/slow", host=host), max_bytes=LIMIT)
                for _ in range(6)
                for host in hosts
            )
        )
    assert site.max_in_flight() == 3
    assert all(site.max_in_flight(host) <= 2 for host in hosts)


async def test_a_429_is_tried_again_after_its_retry_after(site: TestSite) -> None:
    site.throttled("/busy", b"at last", "text/plain", refusals=1, retry_after="1")
    async with PoliteFetcher(POLICY) as fetcher:
        fetched = await fetcher.fetch(site.url("/busy"), max_bytes=LIMIT)
        assert fetcher.requests_made == 3  # robots.txt, the 429, the 200
    assert fetched.body == b"at last"
    refused, served = requests_to(site, "/busy")
    assert refused.finished is not None
    assert served.started - refused.finished >= 1.0 - ARRIVAL_JITTER_SECONDS


async def test_retry_after_holds_back_the_whole_host(site: TestSite) -> None:
    site.throttled("/busy", b"at last", "text/plain", refusals=1, retry_after="1")
    site.page("/other", "other")
    async with PoliteFetcher(policy(per_host=1)) as fetcher:
        # /busy takes the host's one slot first; /other waits for it, then for Retry-After.
        await asyncio.gather(
            fetcher.fetch(site.url("/busy"), max_bytes=LIMIT),
            fetcher.fetch(site.url("/other"), max_bytes=LIMIT),
        )
    refused = requests_to(site, "/busy")[0]
    (other,) = requests_to(site, "/other")
    assert refused.finished is not None
    assert other.started - refused.finished >= 1.0 - ARRIVAL_JITTER_SECONDS


async def test_a_retry_after_date_is_understood(site: TestSite) -> None:
    a_moment_ago = format_datetime(datetime.now(UTC) - timedelta(seconds=5), usegmt=True)
    site.throttled("/busy", b"ok", "text/plain", refusals=2, retry_after=a_moment_ago)
    async with PoliteFetcher(POLICY) as fetcher:
        fetched = await fetcher.fetch(site.url("/busy"), max_bytes=LIMIT)
    assert fetched.body == b"ok"
    assert site.paths_requested().count("/busy") == 3


async def test_a_retry_after_beyond_the_limit_gives_up_at_once(site: TestSite) -> None:
    site.throttled("/busy", b"never", "text/plain", refusals=5, retry_after="3600")
    async with PoliteFetcher(POLICY) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/busy"))
    assert (refusal.kind, refusal.reason) == ("http-status", "HTTP 429: asked to wait 3600 s")
    assert site.paths_requested().count("/busy") == 1


async def test_a_server_error_is_tried_again_then_refused(site: TestSite) -> None:
    site.page("/down", "sorry", status=503)
    async with PoliteFetcher(policy(retries=3)) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/down"))
        assert fetcher.requests_made == 1 + 1 + 3  # robots.txt, the first try, three more
    assert (refusal.kind, refusal.reason) == ("http-status", "HTTP 503")
    assert site.paths_requested().count("/down") == 1 + 3


async def test_a_missing_page_is_refused_without_retries(site: TestSite) -> None:
    async with PoliteFetcher(POLICY) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/nowhere"))
    assert (refusal.kind, refusal.reason) == ("http-status", "HTTP 404")
    assert site.paths_requested() == ["/robots.txt", "/nowhere"]


async def test_a_redirect_chain_is_followed_to_its_end_across_hosts(site: TestSite) -> None:
    site.redirect("/start", "/step", status=301)
    site.redirect("/step", site.url("/final", host="localhost"), status=307)
    site.page("/final", "here", "text/plain")
    async with PoliteFetcher(POLICY) as fetcher:
        fetched = await fetcher.fetch(site.url("/start"), max_bytes=LIMIT)
    assert fetched.url == site.url("/final", host="localhost")
    assert fetched.body == b"here"
    assert site.paths_requested("127.0.0.1") == ["/robots.txt", "/start", "/step"]
    # The hop to another host was checked against that host's own robots.txt.
    assert site.paths_requested("localhost") == ["/robots.txt", "/final"]


async def test_a_redirect_loop_is_refused(site: TestSite) -> None:
    site.redirect("/a", "/b")
    site.redirect("/b", site.url("/a"))
    async with PoliteFetcher(POLICY) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/a"))
    assert (refusal.kind, refusal.reason) == ("redirects", "redirect loop")
    assert site.paths_requested() == ["/robots.txt", "/a", "/b"]


async def test_too_many_redirects_are_refused(site: TestSite) -> None:
    for hop in range(7):
        site.redirect(f"/r{hop}", f"/r{hop + 1}")
    async with PoliteFetcher(POLICY) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/r0"))
    assert (refusal.kind, refusal.reason) == ("redirects", "more than 5 redirects")
    assert site.paths_requested() == ["/robots.txt"] + [f"/r{hop}" for hop in range(6)]


async def test_a_redirect_to_a_url_that_is_not_http_is_refused(site: TestSite) -> None:
    site.redirect("/download", "ftp://files.example.org/photo.jpg")
    async with PoliteFetcher(POLICY) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/download"))
    assert refusal.kind == "not-http"


async def test_a_redirect_into_a_disallowed_path_is_refused_unrequested(site: TestSite) -> None:
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.redirect("/go", "/private/photo.jpg")
    site.page("/private/photo.jpg", b"secret", "image/jpeg")
    async with PoliteFetcher(POLICY) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/go"))
    assert refusal.kind == "robots"
    assert site.paths_requested() == ["/robots.txt", "/go"]


async def test_a_declared_length_over_the_limit_is_refused_before_the_body(
    site: TestSite,
) -> None:
    site.drip("/huge.jpg", FIFTY_MB, "image/jpeg", with_length=True)
    async with PoliteFetcher(POLICY) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/huge.jpg"), max_bytes=LIMIT)
    assert refusal.kind == "too-large"
    assert refusal.reason == "larger than 16.0 MB (Content-Length: 52428800)"
    assert site.paths_requested() == ["/robots.txt", "/huge.jpg"]
    # We hung up at the headers: the server got out no more than the connection buffers.
    assert await asyncio.to_thread(site.bytes_sent, "/huge.jpg") < FIFTY_MB // 2


async def test_a_chunked_body_is_cut_off_at_the_limit(site: TestSite) -> None:
    site.drip("/endless.jpg", FIFTY_MB, "image/jpeg", with_length=False)
    async with PoliteFetcher(POLICY) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/endless.jpg"), max_bytes=MB)
    assert (refusal.kind, refusal.reason) == ("too-large", "larger than 1.0 MB")
    assert await asyncio.to_thread(site.bytes_sent, "/endless.jpg") < FIFTY_MB // 2


async def test_a_body_within_the_limit_is_read_whole(site: TestSite) -> None:
    site.drip("/photo.jpg", MB, "image/jpeg", with_length=False)
    async with PoliteFetcher(POLICY) as fetcher:
        fetched = await fetcher.fetch(site.url("/photo.jpg"), max_bytes=MB)
    assert len(fetched.body) == MB
    assert fetched.content_type == "image/jpeg"
    assert fetched.charset is None


async def test_a_slow_host_times_out(site: TestSite) -> None:
    site.slow("/slow", b"too late", "text/plain", delay_seconds=3.0)
    async with PoliteFetcher(policy(read_timeout=0.3, retries=0)) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/slow"))
    assert (refusal.kind, refusal.reason) == ("timeout", "timed out")


async def test_a_slow_drip_is_cut_off_by_the_total_timeout(site: TestSite) -> None:
    async def one_byte_at_a_time(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        while True:  # each read is quick, the whole never ends
            await response.write(b"<")
            await asyncio.sleep(0.05)

    site.route("/drip", one_byte_at_a_time)
    async with PoliteFetcher(policy(read_timeout=5.0, total_timeout=0.5, retries=0)) as fetcher:
        refusal = await refusal_of(fetcher, site.url("/drip"))
    assert refusal.kind == "timeout"


@pytest.mark.parametrize(
    "url",
    ["ftp://example.org/a.jpg", "mailto:someone@example.org", "javascript:void(0)", "http://"],
)
async def test_a_url_that_is_not_http_is_refused_unrequested(site: TestSite, url: str) -> None:
    async with PoliteFetcher(POLICY) as fetcher:
        refusal = await refusal_of(fetcher, url)
        assert not await fetcher.allowed(url)
        assert fetcher.requests_made == 0
    assert refusal.kind == "not-http"


async def test_requests_made_counts_every_request_sent(site: TestSite) -> None:
    site.page("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    site.throttled("/busy", b"ok", "text/plain", refusals=2, retry_after="0")
    site.page("/a", "a")
    async with PoliteFetcher(POLICY) as fetcher:
        await fetcher.fetch(site.url("/a"), max_bytes=LIMIT)
        await fetcher.fetch(site.url("/busy"), max_bytes=LIMIT)
        await refusal_of(fetcher, site.url("/private/x"))
        await fetcher.fetch(site.url("/a", host="localhost"), max_bytes=LIMIT)
        # robots.txt twice (one per host), /a twice, /busy three times, /private never.
        assert fetcher.requests_made == 7 == len(site.requests)

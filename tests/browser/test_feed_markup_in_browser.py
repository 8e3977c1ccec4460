"""The cards and tiles feed.js builds are the ones the server renders, in a real Chromium.

The scripts hold no icon and no URL of their own: the icons come from the
<template data-icon> elements base.html renders from templates/_icons.html,
the URLs from the data-*-url attributes of the grid. So a photo loaded by
infinite scroll must come out exactly as the server draws the same photo on
the no-JavaScript "More photos" page: same elements, same attributes, same
icons, same links (profile, image, #hashtags, like forms, sign-in).
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from tests.browser.conftest import (
    DESKTOP,
    BrowserErrors,
    GalleryServer,
    ServerFactory,
    signed_in_page,
)
from tests.helpers import make_active_user
from tests.images import jpeg_bytes

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
HOME_PAGE_SIZE = 12  # web/main.py
PROFILE_PAGE_SIZE = 24  # web/users.py
PHOTOS = PROFILE_PAGE_SIZE + 1  # a second page on the profile too
DESCRIPTION = "Harbour light at #Dusk, from the #sea wall"

# An element as comparable data: tag, sorted attributes, children (text trimmed,
# whitespace between elements dropped). What differs by design is left out:
# the CSRF token's value, a <time>'s text and title (the page's clock writes
# them), the placeholder's inline background while a photo loads, and what
# depends on the page's own address ("next", the sign-in link),
# which the test compares with the first page's separately.
CANONICAL = """
function canonical(node) {
  if (node.nodeType === Node.TEXT_NODE) {
    const text = node.textContent.replace(/\\s+/g, " ").trim();
    return text || null;
  }
  if (node.nodeType !== Node.ELEMENT_NODE) {
    return null;
  }
  const isTime = node.matches("time[data-relative]");
  // placeholders.js paints a loading photo's BlurHash as its inline background.
  const isPlaceholder = node.matches("img[data-blurhash]");
  const attributes = Array.from(node.attributes)
    .filter((a) => !(isTime && a.name === "title") && !(isPlaceholder && a.name === "style"))
    .map((a) => {
      if (node.matches("input[name=csrf_token]") && a.name === "value") return [a.name, "TOKEN"];
      if (node.matches("input[name=next]") && a.name === "value") return [a.name, "NEXT"];
      if (node.matches("a[data-like-signin]") && a.name === "href") return [a.name, "SIGN-IN"];
      return [a.name, a.value];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const children = isTime
    ? []
    : Array.from(node.childNodes).map(canonical).filter((c) => c !== null);
  return [node.tagName.toLowerCase(), attributes, children];
}
"""

# {image id: canonical markup} of the items of a grid, in the live page or in
# the HTML of another page (parsed, never run).
ITEMS = (
    "([html, selector]) => {"
    + CANONICAL
    + """
  const root = html === null ? document : new DOMParser().parseFromString(html, "text/html");
  const found = {};
  root.querySelectorAll(selector).forEach((item) => {
    found[item.getAttribute("data-image-id")] = canonical(item);
  });
  return found;
}"""
)

# What a page's own address puts into its cards: the like form's "next", the sign-in link.
PAGE_BOUND = """(selector) => {
  const item = document.querySelector(selector);
  const next = item.querySelector("input[name=next]");
  const signIn = item.querySelector("a[data-like-signin]");
  return [next ? next.value : null, signIn ? signIn.getAttribute("href") : null];
}"""

CARDS = "[data-feed] [data-feed-items] > [data-image-id]"


async def upload_photos(page: Page, count: int) -> None:
    """``count`` posts of one photo each, sent by this page's session through the API
    (the composer would make each batch one post; the grids need many)."""
    await page.goto("/upload")
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    for n in range(count):
        response = await page.request.post(
            "/api/v1/images",
            headers={"X-CSRF-Token": token},
            multipart={
                "description": DESCRIPTION,
                "file": {
                    "name": f"harbour-{n}.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": jpeg_bytes(64, 48, (20 + 8 * n, 90, 160)),
                },
            },
        )
        assert response.status == 201, await response.text()


async def items_of(page: Page, selector: str, html: str | None = None) -> dict[str, object]:
    found: dict[str, object] = await page.evaluate(ITEMS, [html, selector])
    return found


async def compare_second_page(page: Page, server: GalleryServer, path: str, selector: str) -> int:
    """Load ``path``, scroll its grid to the second page, and check that what
    feed.js added is what the server renders on the "More photos" page.
    Returns how many items were compared."""
    await page.goto(path)
    more = await page.locator("[data-feed-more]").get_attribute("href")
    assert more, "a second page to load"
    first_page = await items_of(page, selector)
    page_bound = await page.evaluate(PAGE_BOUND, selector)

    await page.locator("[data-feed-sentinel]").scroll_into_view_if_needed()
    await page.wait_for_function(
        "([selector, count]) => document.querySelectorAll(selector).length >= count",
        arg=[selector, len(first_page) + 1],
    )
    await expect(page.locator("[data-feed]")).not_to_have_attribute("aria-busy", "true")

    response = await page.request.get(server.url + more)
    assert response.ok
    rendered = await items_of(page, selector, await response.text())
    built = await items_of(page, selector)
    assert rendered, "the server's second page has items"
    for image_id, markup in rendered.items():
        assert image_id not in first_page
        assert built.get(image_id) == markup, f"image {image_id} as feed.js built it"
        # The parts that follow the page's address are those of the first page's items.
        bound = await page.evaluate(PAGE_BOUND, f'{selector}[data-image-id="{image_id}"]')
        assert bound == page_bound
    return len(rendered)


async def test_cards_and_tiles_loaded_by_feed_js_match_the_server_markup(
    start_server: ServerFactory, browser: Browser, settings: Settings
) -> None:
    runtime = Runtime.from_settings(settings)
    await runtime.start(run_worker=False)
    try:
        for username in ("alice", "bob"):
            await make_active_user(runtime, username, f"{username}@example.com", PASSWORD)
    finally:
        await runtime.stop()
    server = await start_server(workers=1)

    alice = await signed_in_page(browser, server, "alice", PASSWORD)
    bob = await signed_in_page(browser, server, "bob", PASSWORD)
    visitor_context = await browser.new_context(viewport=DESKTOP, base_url=server.url)
    visitor_context.set_default_timeout(8000)
    visitor = await visitor_context.new_page()
    watchers = [BrowserErrors(page) for page in (alice, bob, visitor)]
    try:
        await upload_photos(alice, PHOTOS)

        # Bob likes and comments on a photo of the home page's second page, so
        # its card has a filled heart, an "Unlike" form and a comment.
        await bob.goto("/")
        ids = [
            int(await card.get_attribute("data-image-id") or 0)
            for card in await bob.locator(CARDS).all()
        ]
        target = str(min(ids) - 1)  # the newest photo of the second page
        await bob.goto(f"/images/{target}")
        likes = bob.locator(".detail-actions [data-like-count]")
        await likes.get_by_role("button", name="Like", exact=True).click()
        await expect(likes).not_to_have_attribute("aria-busy", "true")
        await expect(likes).to_have_class("like-count is-liked")
        comment_form = bob.locator("#comment-form")
        await comment_form.locator("textarea[name=content]").fill("Lovely #light")
        await comment_form.get_by_role("button", name="Post").click()
        await expect(bob.locator("[data-comment-list] > li.comment")).to_have_count(1)

        # The home page's cards, signed in and signed out.
        assert await compare_second_page(bob, server, "/", CARDS) == HOME_PAGE_SIZE
        liked = bob.locator(f'{CARDS}[data-image-id="{target}"]')
        await expect(liked.locator("[data-like-count]")).to_have_class("like-count is-liked")
        await expect(liked.locator(".photo-card-desc a.hashtag")).to_have_count(2)
        assert await compare_second_page(visitor, server, "/", CARDS) == HOME_PAGE_SIZE

        # The profile's tiles (icons and counts only).
        tiles = "[data-feed] [data-feed-items] > a.photo-tile[data-image-id]"
        assert await compare_second_page(visitor, server, "/u/alice", tiles) == 1
    finally:
        for page in (alice, bob):
            await page.context.close()
        await visitor_context.close()
    for watcher in watchers:
        watcher.assert_none()

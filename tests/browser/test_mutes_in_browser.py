"""Muting in a real Chromium against a real Hypercorn: mute someone from their profile,
see their posts leave the home feed (and stay on their profile), unmute from /muted."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from gallery.settings import Settings
from tests.browser.conftest import (
    BrowserErrors,
    ServerFactory,
    screenshots,
    seed_site,
    signed_in_page,
)

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
ALICE = "alice"


def cards_by(page: Page, username: str) -> Locator:
    return page.locator(
        "[data-feed-items] > [data-image-id]",
        has=page.locator(".photo-card-username", has_text=username),
    )


async def test_mute_someone_and_their_posts_leave_your_feeds_in_chromium(
    start_server: ServerFactory, browser: Browser, artifacts: Path, settings: Settings
) -> None:
    await seed_site(settings, (ALICE,), PASSWORD, users=3, images=12, comments=0, likes=0, seed=7)
    server = await start_server(workers=1)
    alice = await signed_in_page(browser, server, ALICE, PASSWORD)
    errors = BrowserErrors(alice)
    try:
        # Someone with a post on the first page of everyone's feed.
        first_author = alice.locator("[data-feed-items] .photo-card-username").first
        loud = (await first_author.inner_text()).strip()
        assert await cards_by(alice, loud).count() >= 1

        await alice.goto(f"/search?q={loud}&type=users")
        await expect(alice.locator(".search-item-name", has_text=loud)).to_have_count(1)

        await alice.goto(f"/u/{loud}")
        profile_posts = await alice.locator("[data-image-id]").count()
        assert profile_posts >= 1
        await alice.get_by_role("button", name=f"Mute {loud}").click()
        await expect(alice.locator(".flash-stack .alert")).to_contain_text(f"You muted {loud}")
        await expect(alice.locator("[data-profile-muted]")).to_be_visible()
        # Their profile still shows their posts: Alice went there on purpose.
        await expect(alice.locator("[data-image-id]")).to_have_count(profile_posts)
        await screenshots(alice, artifacts, "mutes-profile-muted")

        await alice.goto("/")
        await expect(alice.locator("[data-feed-items] > [data-image-id]").first).to_be_visible()
        await expect(cards_by(alice, loud)).to_have_count(0)
        await alice.goto(f"/search?q={loud}&type=users")
        await expect(alice.locator(".search-item-name", has_text=loud)).to_have_count(0)

        await alice.goto("/muted")
        await expect(alice.locator(f'[data-person="{loud}"]')).to_be_visible()
        await screenshots(alice, artifacts, "mutes-list")
        await alice.get_by_role("button", name=f"Unmute {loud}").click()
        await expect(alice.locator("main")).to_contain_text("Nobody muted")

        await alice.goto("/")
        await expect(cards_by(alice, loud).first).to_be_visible()
        errors.assert_none()
    finally:
        await alice.context.close()

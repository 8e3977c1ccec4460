"""Likes, follows, the bell and notifications between two people, in a real Chromium
against a real Hypercorn: everything in place, without page loads."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from gallery.devtools import forge
from gallery.settings import Settings
from tests.browser.conftest import (
    DESKTOP,
    BrowserErrors,
    ServerFactory,
    expect_photos_processed,
    screenshots,
    seed_site,
    sign_in_with_form,
    signed_in_page,
)

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
ALICE = "alice"  # uploads a photo
BOB = "bob"  # likes it, follows alice, comments


async def make_accounts_and_photos(settings: Settings, *usernames: str) -> None:
    """The two accounts, and other people's liked photos for today's top."""
    await seed_site(
        settings, usernames, PASSWORD,
        users=3, images=8, comments=6, likes=12, follows=2, seed=5,
    )  # fmt: skip


class PageLoads:
    """Counts the documents a page loads: in-place actions must not add any."""

    def __init__(self, page: Page) -> None:
        self.count = 0
        page.on("load", self._loaded)

    def _loaded(self, _page: Page) -> None:
        self.count += 1


async def bell_shows(page: Page, text: str | None, timeout: float = 10.0) -> None:
    """Wait for the bell's badge, nudging notifications.js as a returning tab would."""
    badge = page.locator("[data-notification-bell] [data-unread-badge]")
    deadline = time.monotonic() + timeout
    while True:
        await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        try:
            if text is None:
                await expect(badge).to_be_hidden(timeout=1000)
            else:
                await expect(badge).to_have_text(text, timeout=1000)
                await expect(badge).to_be_visible(timeout=1000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.6)  # notifications.js asks at most every 2 s


def like_control(scope: Page | Locator) -> Locator:
    return scope.locator("[data-like-count]").first


async def settled(control: Locator) -> None:
    """Wait for the server's answer: the buttons change at once, optimistically."""
    await expect(control).not_to_have_attribute("aria-busy", "true")


async def test_likes_follows_and_notifications_between_two_people_in_chromium(
    start_server: ServerFactory,
    browser: Browser,
    artifacts: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    # The data first: the server ranks today's top once a minute, from its first page.
    await make_accounts_and_photos(settings, ALICE, BOB)
    server = await start_server(workers=1)
    photo = tmp_path / "lighthouse.jpg"
    photo.write_bytes(forge.render_photo("sea", 11))
    contexts: list[BrowserContext] = []
    try:
        alice = await signed_in_page(browser, server, ALICE, PASSWORD)
        contexts.append(alice.context)
        alice_errors = BrowserErrors(alice)
        bob = await signed_in_page(browser, server, BOB, PASSWORD)
        contexts.append(bob.context)
        bob_errors = BrowserErrors(bob)

        # Alice uploads a photo; nobody follows anybody yet.
        await alice.goto("/upload")
        form = alice.locator("form[data-upload-form]")
        await form.locator("input[name=file]").set_input_files(photo)
        await expect_photos_processed(form, 1)
        await form.locator("[name=description]").fill("Lighthouse at first light")
        await form.get_by_role("button", name="Post").click()
        await expect(alice).to_have_url(re.compile(r"/images/\d+$"))
        await expect(alice.locator("[data-notification-bell] [data-unread-badge]")).to_be_hidden()

        # Bob follows nobody yet: his Following tab says how to change that.
        await bob.goto("/following")
        await expect(bob.locator("[data-feed-empty]")).to_contain_text(
            "Follow people to see their photos here"
        )
        await screenshots(bob, artifacts, "social-following-empty")

        # Bob sees it first on the home page, under today's top, and likes it in place.
        await bob.goto("/")
        top = bob.locator("[data-todays-top] .top-tile")
        assert 1 <= await top.count() <= 6
        await expect(bob.locator("[data-todays-top]")).to_contain_text("Today's top")
        loads = PageLoads(bob)
        card = bob.locator("[data-feed-items] > [data-image-id]").first
        await expect(card).to_contain_text("Lighthouse at first light")
        image_id = await card.get_attribute("data-image-id")
        likes = like_control(card)
        await expect(likes.locator(".count-value")).to_have_text("0")
        await likes.get_by_role("button", name="Like", exact=True).click()
        await settled(likes)
        await expect(likes.locator(".count-value")).to_have_text("1")
        await expect(likes).to_have_class(re.compile(r"\bis-liked\b"))
        button = likes.get_by_role("button", name="Unlike", exact=True)
        await expect(button).to_have_attribute("aria-pressed", "true")
        await screenshots(bob, artifacts, "social-home-liked")

        # A refused change is undone and explained (the server's message in a toast).
        bob_errors.expect_refusal(429, f"/api/v1/images/{image_id}/like")
        message = "Too many likes. Please wait about 10 minutes and try again."

        async def refuse(route: object) -> None:
            await route.fulfill(  # type: ignore[attr-defined]
                status=429,
                json={"error": {"code": "RATE_LIMITED", "message": message}},
            )

        await bob.route(f"**/api/v1/images/{image_id}/like", refuse)
        await button.click()
        await expect(bob.locator("[data-toast]")).to_contain_text(message)
        await expect(likes.locator(".count-value")).to_have_text("1")
        await expect(button).to_have_attribute("aria-pressed", "true")
        await bob.unroute(f"**/api/v1/images/{image_id}/like")
        assert loads.count == 0, "liking must not load a page"

        # On the photo's page Bob follows Alice (next to her name) and comments.
        await card.locator("a.photo-card-media").click()
        await expect(bob).to_have_url(re.compile(rf"/images/{image_id}$"))
        await bob.wait_for_load_state("load")
        loads = PageLoads(bob)
        head = bob.locator(".detail-head")
        follow = head.locator("[data-follow-button]")
        await expect(follow.locator("[data-follow-label]")).to_have_text("Follow")
        await expect(follow).to_have_attribute("aria-pressed", "false")
        await follow.click()
        await settled(head.locator("[data-follow-form]"))
        await expect(follow.locator("[data-follow-label]")).to_have_text("Following")
        await expect(follow).to_have_attribute("aria-pressed", "true")
        comment_form = bob.locator("#comment-form")
        await comment_form.locator("textarea[name=content]").fill("What a <b>morning</b>!")
        await comment_form.get_by_role("button", name="Post").click()
        await expect(bob.locator("[data-comment-list] > li.comment")).to_have_count(1)
        detail_count = like_control(bob.locator(".detail-actions")).locator(".count-value")
        await expect(detail_count).to_have_text("1")
        await screenshots(bob, artifacts, "social-image-page")
        assert loads.count == 0, "following and commenting must not load a page"

        # Alice's bell counts the three notices without a reload.
        await alice.wait_for_load_state("load")
        alice_loads = PageLoads(alice)
        await bell_shows(alice, "3")
        assert alice_loads.count == 0
        await expect(alice.locator("[data-notification-bell]")).to_contain_text("3 unread")

        # Her notifications: newest first, unread; one read, then all, in place.
        await alice.locator("[data-notification-bell]").click()
        await expect(alice).to_have_url(server.url + "/notifications")
        await alice.wait_for_load_state("load")
        loads = PageLoads(alice)
        notices = alice.locator("[data-notification-list] > [data-notification]")
        await expect(notices).to_have_count(3)
        await expect(notices.nth(0)).to_contain_text("bob commented on your photo")
        await expect(notices.nth(0)).to_contain_text("What a <b>morning</b>!")
        await expect(notices.nth(0).locator("time")).to_have_text("just now")
        await expect(notices.nth(1)).to_contain_text("bob started following you")
        await expect(notices.nth(2)).to_contain_text("bob liked your photo")
        await expect(alice.locator("[data-notification].is-unread")).to_have_count(3)
        await screenshots(alice, artifacts, "social-notifications")

        await notices.nth(0).get_by_role("button", name="Mark as read").click()
        await expect(alice.locator("[data-notification].is-unread")).to_have_count(2)
        await expect(alice.locator("[data-unread-badge]")).to_have_text("2")
        await expect(alice.locator("[data-unread-summary]")).to_have_text("2 unread")
        await alice.get_by_role("button", name="Mark all as read").click()
        await expect(alice.locator("[data-notification].is-unread")).to_have_count(0)
        await expect(alice.locator("[data-unread-badge]")).to_be_hidden()
        await expect(alice.locator("[data-unread-summary]")).to_have_text("You're all caught up.")
        await expect(alice.get_by_role("button", name="Mark all as read")).to_be_hidden()
        assert loads.count == 0, "marking read must not load a page"

        # Bob takes his like back: the count follows, in place.
        loads = PageLoads(bob)
        detail_likes = like_control(bob.locator(".detail-actions"))
        await detail_likes.get_by_role("button", name="Unlike", exact=True).click()
        await settled(detail_likes)
        await expect(detail_likes.locator(".count-value")).to_have_text("0")
        await expect(detail_likes.get_by_role("button", name="Like", exact=True)).to_have_attribute(
            "aria-pressed", "false"
        )
        assert loads.count == 0

        # Everything persisted: a reload shows the same.
        await bob.reload()
        await expect(detail_count).to_have_text("0")
        await expect(bob.locator(".detail-head [data-follow-button]")).to_have_attribute(
            "aria-pressed", "true"
        )
        await expect(bob.locator("[data-comment-list] > li.comment")).to_have_count(1)
        await alice.reload()
        # The withdrawn like took its notice with it; the rest stay read.
        await expect(notices).to_have_count(2)
        await expect(alice.locator("[data-notification].is-unread")).to_have_count(0)
        await expect(alice.locator("[data-unread-badge]")).to_be_hidden()

        # Bob's Following tab shows Alice's photo.
        await bob.goto("/")
        await bob.get_by_role("link", name="Following", exact=True).click()
        await expect(bob).to_have_url(server.url + "/following")
        following_cards = bob.locator("[data-feed-items] > [data-image-id]")
        await expect(following_cards).to_have_count(1)
        await expect(following_cards.first).to_have_attribute("data-image-id", str(image_id))
        await expect(following_cards.first).to_contain_text("Lighthouse at first light")
        await screenshots(bob, artifacts, "social-following-feed")

        # On Alice's profile the follower count follows the button, in place.
        await bob.goto(f"/u/{ALICE}")
        loads = PageLoads(bob)
        followers = bob.locator(f'[data-follower-count="{ALICE}"]')
        await expect(followers).to_have_text("1")
        profile_follow = bob.locator(".profile-header [data-follow-button]")
        profile_form = bob.locator(".profile-header [data-follow-form]")
        await profile_follow.click()
        await settled(profile_form)
        await expect(profile_follow.locator("[data-follow-label]")).to_have_text("Follow")
        await expect(followers).to_have_text("0")
        await profile_follow.click()
        await settled(profile_form)
        await expect(profile_follow.locator("[data-follow-label]")).to_have_text("Following")
        await expect(followers).to_have_text("1")
        assert loads.count == 0
        await screenshots(bob, artifacts, "social-profile")

        # The followers list has Bob in it.
        await bob.locator(".profile-stats").get_by_role("link", name=re.compile("follower")).click()
        await expect(bob).to_have_url(server.url + f"/u/{ALICE}/followers")
        await expect(bob.locator("[data-people-list] > li")).to_have_count(1)
        await expect(bob.locator("[data-people-list]")).to_contain_text(BOB)
        await screenshots(bob, artifacts, "social-followers")

        # Alice's own home page: tabs, today's top and the photo she got a comment on.
        await alice.goto("/")
        await screenshots(alice, artifacts, "social-home-owner")
    finally:
        for context in contexts:
            await context.close()
    alice_errors.assert_none()
    bob_errors.assert_none()


async def test_likes_follows_and_notices_work_without_javascript(
    start_server: ServerFactory, browser: Browser, settings: Settings
) -> None:
    await make_accounts_and_photos(settings, ALICE, BOB)
    server = await start_server(workers=1)
    context = await browser.new_context(
        viewport=DESKTOP, base_url=server.url, java_script_enabled=False
    )
    context.set_default_timeout(8000)
    page = await context.new_page()
    errors = BrowserErrors(page)
    try:
        await sign_in_with_form(page, server, BOB, PASSWORD)

        # The like form posts and comes back to the same page.
        likes = like_control(page.locator("[data-feed-items] > [data-image-id]").first)
        before = int(await likes.locator(".count-value").inner_text())
        await likes.get_by_role("button", name="Like", exact=True).click()
        await expect(page).to_have_url(server.url + "/")
        await expect(likes.locator(".count-value")).to_have_text(str(before + 1))
        await expect(likes.get_by_role("button", name="Unlike", exact=True)).to_have_attribute(
            "aria-pressed", "true"
        )

        # Following from a profile, back on the profile with the new count.
        author = await page.locator("[data-feed-items] .photo-card-username").first.inner_text()
        await page.goto(f"/u/{author}")
        await page.locator(".profile-header [data-follow-button]").click()
        await expect(page).to_have_url(server.url + f"/u/{author}")
        await expect(page.locator(".flash-stack")).to_contain_text(f"You now follow {author}.")
        await expect(page.locator(".profile-header [data-follow-label]")).to_have_text("Following")

        # The Following tab is a plain link to a plain page.
        await page.goto("/")
        await page.locator(".feed-tabs").get_by_role("link", name="Following").click()
        await expect(page).to_have_url(server.url + "/following")
        await expect(page.locator("[data-feed-items] > [data-image-id]").first).to_be_visible()
    finally:
        await context.close()
    errors.assert_none()

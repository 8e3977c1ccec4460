"""Live updates in a real Chromium against a real Hypercorn with two workers: what
Bob does shows on Alice's open pages without a reload (static/js/live.js).

The two people's sockets and requests land on either worker, so every event
crosses from one process to the other through Redis.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Request, expect
from sqlalchemy import select

from gallery.devtools import forge
from gallery.infra.runtime import Runtime
from gallery.models.user import Role, User
from gallery.services import moderation
from gallery.settings import Settings
from tests.browser.conftest import (
    PHONE,
    BrowserErrors,
    ServerFactory,
    expect_photos_processed,
    seed_site,
    signed_in_page,
)
from tests.helpers import add_user_rows

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
ALICE = "alice"  # watches
BOB = "bob"  # uploads, likes, comments

UNREAD_COUNT_PATH = "/api/v1/notifications/unread-count"


async def make_people_and_photos(settings: Settings) -> None:
    """Alice and Bob, and other people's photos: a feed long enough to scroll."""
    await seed_site(
        settings, (ALICE, BOB), PASSWORD,
        users=2, images=6, comments=0, likes=0, follows=0, seed=14,
    )  # fmt: skip


async def live_and_listening(page: Page) -> None:
    """Wait until live.js's socket is open and every subscription is confirmed."""
    await expect(page.locator("body")).to_have_attribute("data-live-state", "open")


async def upload(page: Page, photo: Path, description: str) -> str:
    """Upload through the upload page; the new photo's id (the newest card of the home page)."""
    await page.goto("/upload")
    form = page.locator("form[data-upload-form]")
    await form.locator("input[name=file]").set_input_files(photo)
    await expect_photos_processed(form, 1)
    await form.locator("[name=description]").fill(description)
    await form.get_by_role("button", name="Post").click()
    await expect(page).to_have_url(re.compile(r"/images/\d+$"))
    await page.goto("/")
    card = page.locator("[data-feed-items] > [data-image-id]").first
    await expect(card).to_contain_text(description)
    image_id = await card.get_attribute("data-image-id")
    assert image_id
    return image_id


async def top_of(page: Page, selector: str) -> float:
    top = await page.locator(selector).evaluate("node => node.getBoundingClientRect().top")
    return float(top)


async def test_what_bob_does_shows_live_on_alices_open_pages(
    start_server: ServerFactory, browser: Browser, settings: Settings, tmp_path: Path
) -> None:
    await make_people_and_photos(settings)
    server = await start_server(workers=2)
    alice_photo = tmp_path / "harbour.jpg"
    alice_photo.write_bytes(forge.render_photo("sea", 3))
    bob_photo = tmp_path / "forest.jpg"
    bob_photo.write_bytes(forge.render_photo("hills", 8))
    contexts: list[BrowserContext] = []
    try:
        alice = await signed_in_page(browser, server, ALICE, PASSWORD)
        contexts.append(alice.context)
        alice_errors = BrowserErrors(alice)
        bob = await signed_in_page(browser, server, BOB, PASSWORD)
        contexts.append(bob.context)
        bob_errors = BrowserErrors(bob)

        alice_id = await upload(alice, alice_photo, "Harbour at dusk")

        # Alice reads the home page on a phone (one column: a card on top pushes the
        # others down), scrolled down a little, her own photo in view.
        await alice.set_viewport_size(PHONE)
        await alice.goto("/")
        await live_and_listening(alice)
        await alice.evaluate("window.liveMarker = 'no reload'")
        alice_card = f'[data-feed-items] > [data-image-id="{alice_id}"]'
        await alice.locator(alice_card).evaluate(
            "card => window.scrollTo({top: card.getBoundingClientRect().top + window.scrollY - 80,"
            " behavior: 'instant'})"
        )
        assert await alice.evaluate("window.scrollY") > 0
        top_before = await top_of(alice, alice_card)
        pill = alice.locator("[data-live-pill]")
        await expect(pill).to_be_hidden()

        # Bob uploads: the pill counts one new photo, and a click puts it on top
        # while Alice's card stays where she sees it.
        bob_id = await upload(bob, bob_photo, "Beech forest in fog")
        await expect(pill).to_be_visible()
        await expect(pill).to_have_text("1 new photo")
        await pill.click()
        first = alice.locator("[data-feed-items] > [data-image-id]").first
        await expect(first).to_have_attribute("data-image-id", bob_id)
        await expect(first).to_contain_text("Beech forest in fog")
        await expect(first.locator("[data-like-count] .count-value")).to_have_text("0")
        await expect(pill).to_be_hidden()
        await expect(
            alice.locator(f'[data-feed-items] > [data-image-id="{bob_id}"]')
        ).to_have_count(1)
        assert abs(await top_of(alice, alice_card) - top_before) < 2, "the card in view moved"
        await expect(alice.locator(alice_card)).to_be_in_viewport()
        # The new card is followed too (its "photo:<id>" subscribed).
        await live_and_listening(alice)

        # Bob likes Alice's photo on his home page: her count moves on her open page.
        await bob.goto("/")
        bob_card = bob.locator(f'[data-feed-items] > [data-image-id="{alice_id}"]')
        await bob_card.get_by_role("button", name="Like", exact=True).click()
        await expect(bob_card.locator("[data-like-count]")).not_to_have_attribute(
            "aria-busy", "true"
        )
        alice_likes = alice.locator(alice_card).locator("[data-like-count] .count-value")
        await expect(alice_likes).to_have_text("1")
        await expect(alice_likes.locator("xpath=following-sibling::span[1]")).to_have_text(" like")
        assert await alice.evaluate("window.liveMarker") == "no reload"

        # Alice opens her photo; Bob comments on it from his.
        await alice.goto(f"/images/{alice_id}")
        await live_and_listening(alice)
        await alice.evaluate("window.liveMarker = 'no reload'")
        bell = alice.locator("[data-notification-bell]")
        unread_before = int(await bell.get_attribute("data-unread-count") or "0")
        asked_for_unread: list[str] = []

        def note_unread_request(request: Request) -> None:
            if request.url.endswith(UNREAD_COUNT_PATH):
                asked_for_unread.append(request.url)

        alice.on("request", note_unread_request)

        await bob.goto(f"/images/{alice_id}")
        comment_form = bob.locator("#comment-form")
        await comment_form.locator("textarea[name=content]").fill("Lovely light on the water")
        await comment_form.get_by_role("button", name="Post").click()
        await expect(bob.locator("[data-comment-list] > li.comment")).to_have_count(1)

        # On Alice's page: the comment once, the counter, and the bell, all pushed.
        comments = alice.locator("[data-comment-list] > li.comment")
        await expect(comments).to_have_count(1)
        await expect(comments.first).to_contain_text("Lovely light on the water")
        await expect(comments.first.locator(".comment-author")).to_have_text(BOB)
        await expect(alice.locator("[data-comments-empty]")).to_be_hidden()
        await expect(
            alice.locator(".detail-actions [data-comment-count] .count-value")
        ).to_have_text("1")
        await expect(bell).to_have_attribute("data-unread-count", str(unread_before + 1))
        await expect(bell.locator("[data-unread-badge]")).to_have_text(str(unread_before + 1))
        await expect(comments).to_have_count(1)  # still once, after everything arrived
        assert asked_for_unread == [], "the bell moved by polling, not by the live socket"
        assert await alice.evaluate("window.liveMarker") == "no reload"

        alice_errors.assert_none()
        bob_errors.assert_none()
    finally:
        for context in contexts:
            await context.close()


async def lock_account(settings: Settings, username: str) -> None:
    """A moderator locks the account, through the service the admin pages call."""
    runtime = Runtime.from_settings(settings)
    await runtime.start(run_worker=False)
    try:
        [moderator_id] = await add_user_rows(runtime, "moderator", role=Role.MODERATOR)
        async with runtime.db.session() as session:
            moderator = await session.get(User, moderator_id)
            account = await session.scalar(
                select(User).where(User.username_key == User.key_for(username))
            )
            assert moderator is not None and account is not None
            await moderation.lock_user(
                session, actor=moderator, user_id=account.id, reason="spam", redis=runtime.redis
            )
    finally:
        await runtime.stop()


async def test_deletions_and_a_lock_show_live_on_an_open_photo_page(
    start_server: ServerFactory, browser: Browser, settings: Settings, tmp_path: Path
) -> None:
    await make_people_and_photos(settings)
    server = await start_server(workers=2)
    bob_photo = tmp_path / "dunes.jpg"
    bob_photo.write_bytes(forge.render_photo("dunes", 5))
    contexts: list[BrowserContext] = []
    try:
        alice = await signed_in_page(browser, server, ALICE, PASSWORD)
        contexts.append(alice.context)
        alice_errors = BrowserErrors(alice)
        bob = await signed_in_page(browser, server, BOB, PASSWORD)
        contexts.append(bob.context)
        bob_errors = BrowserErrors(bob)
        bob.on("dialog", lambda dialog: dialog.accept())  # "Delete …?" confirmations

        bob_id = await upload(bob, bob_photo, "Dunes at noon")
        await alice.goto(f"/images/{bob_id}")
        await live_and_listening(alice)
        await alice.evaluate("window.liveMarker = 'no reload'")
        comments = alice.locator("[data-comment-list] > li.comment")
        comment_count = alice.locator(".detail-actions [data-comment-count] .count-value")

        # Bob comments on his photo, then deletes the comment: it comes and goes.
        await bob.goto(f"/images/{bob_id}")
        comment_form = bob.locator("#comment-form")
        await comment_form.locator("textarea[name=content]").fill("Shot at 35 mm")
        await comment_form.get_by_role("button", name="Post").click()
        await expect(comments).to_have_count(1)
        await expect(comments.first).to_contain_text("Shot at 35 mm")
        await expect(comment_count).to_have_text("1")
        await bob.get_by_role("button", name=f"Delete comment by {BOB}").click()
        await expect(bob.locator("[data-comment-list] > li.comment")).to_have_count(0)
        await expect(comments).to_have_count(0)
        await expect(comment_count).to_have_text("0")
        await expect(alice.locator("[data-comments-empty]")).to_be_visible()

        # A moderator locks Alice's account: her open page says so at once.
        await lock_account(settings, ALICE)
        banner = alice.locator("[data-locked-banner]")
        await expect(banner).to_have_count(1)
        await expect(banner).to_have_attribute("role", "alert")
        await expect(banner).to_contain_text("Your account has been locked")

        # Bob deletes the photo: Alice's page says it is gone.
        await bob.get_by_role("button", name="Delete photo").click()
        await expect(bob.locator(".flash-stack")).to_be_visible()
        deleted = alice.locator("[data-live-photo-deleted]")
        await expect(deleted).to_have_text("This photo has been deleted.")
        await expect(deleted).to_have_attribute("role", "alert")
        assert await alice.evaluate("window.liveMarker") == "no reload"

        # Her home page no longer shows it.
        await alice.goto("/")
        await expect(alice.locator(f'[data-image-id="{bob_id}"]')).to_have_count(0)
        await live_and_listening(alice)
        await alice.evaluate("window.liveMarker = 'no reload'")

        # She signs out in another tab: the server closes this page's socket (4401);
        # the page says so instead of reloading, and listens on anonymously.
        alice_errors.expect_refusal(401, UNREAD_COUNT_PATH)  # the bell's last ask
        other_tab = await alice.context.new_page()
        await other_tab.goto("/")
        await other_tab.get_by_role("button", name="Sign out").click()
        await expect(other_tab.locator("body")).not_to_have_attribute("data-signed-in", "")
        signed_out = alice.locator("[data-live-signed-out]")
        await expect(signed_out).to_contain_text("You have been signed out.", timeout=15000)
        await live_and_listening(alice)
        assert await alice.evaluate("window.liveMarker") == "no reload"

        alice_errors.assert_none()
        bob_errors.assert_none()
    finally:
        for context in contexts:
            await context.close()

"""Private accounts and followers-only posts in a real Chromium against a real Hypercorn:
Alice makes her account private, accepts Bob's request and declines Carol's, then
posts for her followers only; Bob sees the photo (its signed URL loads), Carol does not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from gallery.devtools import forge
from gallery.settings import Settings
from tests.browser.conftest import (
    BrowserErrors,
    ServerFactory,
    expect_photos_processed,
    screenshots,
    seed_site,
    signed_in_page,
)

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
ALICE = "alice"  # the private account
BOB = "bob"  # asks, and is accepted
CAROL = "carol"  # asks, and is declined


async def flash_says(page: Page, text: str) -> None:
    await expect(page.locator(".flash-stack .alert").last).to_contain_text(text)


async def ask_to_follow(page: Page) -> None:
    await page.goto(f"/u/{ALICE}")
    await expect(page.locator("[data-profile-shut-out]")).to_contain_text("This account is private")
    await page.get_by_role("button", name=f"Follow {ALICE}").click()
    # In place, without a reload: the button says the request is waiting.
    await expect(page.locator("[data-follow-label]")).to_have_text("Requested")


async def test_a_private_account_accepts_one_request_declines_another_and_posts_for_followers(
    start_server: ServerFactory,
    browser: Browser,
    artifacts: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await seed_site(settings, (ALICE, BOB, CAROL), PASSWORD, users=2, images=3, comments=0, seed=4)
    server = await start_server(workers=1)
    photo = tmp_path / "garden.jpg"
    photo.write_bytes(forge.render_photo("mountains", 5))
    alice = await signed_in_page(browser, server, ALICE, PASSWORD)
    bob = await signed_in_page(browser, server, BOB, PASSWORD)
    carol = await signed_in_page(browser, server, CAROL, PASSWORD)
    errors = [BrowserErrors(alice), BrowserErrors(bob), BrowserErrors(carol)]
    try:
        await alice.goto("/account")
        await alice.get_by_role("button", name="Make my account private").click()
        await flash_says(alice, "Your account is private")

        await ask_to_follow(bob)
        await ask_to_follow(carol)
        await screenshots(bob, artifacts, "privacy-requested")

        await alice.goto("/follow-requests")
        await expect(alice.locator("[data-requests-list] [data-person]")).to_have_count(2)
        await screenshots(alice, artifacts, "privacy-requests")
        await alice.get_by_role("button", name=f"Accept {BOB}").click()
        await flash_says(alice, f"{BOB} follows you now.")
        await alice.get_by_role("button", name=f"Decline {CAROL}").click()
        await flash_says(alice, f"You declined {CAROL}")
        await expect(alice.locator("main")).to_contain_text("No requests")

        # Public again (nothing pending now), then a post for followers only.
        await alice.goto("/account")
        await alice.get_by_role("button", name="Make my account public").click()
        await flash_says(alice, "Your account is public")
        await alice.goto("/upload")
        form = alice.locator("form[data-upload-form]")
        await form.locator("input[name=file]").set_input_files(photo)
        await expect_photos_processed(form, 1)
        await form.locator("[name=description]").fill("Garden for friends")
        await form.get_by_label("Followers only").check()
        await form.get_by_role("button", name="Post").click()
        await expect(alice).to_have_url(re.compile(r"/images/\d+$"))
        post_id = alice.url.rsplit("/", 1)[-1]
        await expect(alice.locator("[data-followers-only]")).to_be_visible()

        # Bob, a follower, sees it on Alice's profile, its photo loaded by its signed URL.
        await bob.goto(f"/u/{ALICE}")
        tile = bob.locator(f'[data-image-id="{post_id}"]')
        await expect(tile).to_be_visible()
        image = tile.locator("img").first
        await expect(image).to_have_attribute("src", re.compile(r"^/media/private/"))
        await expect(image).to_have_js_property("complete", True)
        assert await image.evaluate("img => img.naturalWidth") > 0
        await bob.goto(f"/images/{post_id}")
        await expect(bob.locator("main")).to_contain_text("Garden for friends")
        await screenshots(bob, artifacts, "privacy-follower-sees")

        # Carol, declined, does not: not on the profile, not on everyone's feed,
        # and the post itself is as absent.
        await carol.goto(f"/u/{ALICE}")
        await expect(carol.locator("[data-profile-shut-out]")).to_have_count(0)
        await expect(carol.locator(f'[data-image-id="{post_id}"]')).to_have_count(0)
        await carol.goto("/")
        await expect(carol.locator("[data-feed-items] > [data-image-id]").first).to_be_visible()
        await expect(carol.locator(f'[data-image-id="{post_id}"]')).to_have_count(0)
        errors[2].expect_refusal(404, f"/images/{post_id}")
        response = await carol.goto(f"/images/{post_id}")
        assert response is not None and response.status == 404
        for collected in errors:
            collected.assert_none()
    finally:
        for page in (alice, bob, carol):
            await page.context.close()

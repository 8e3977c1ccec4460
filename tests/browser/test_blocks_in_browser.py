"""Blocking in a real Chromium against a real Hypercorn, from both sides: Alice blocks
Bob from his profile, and Bob's own session finds her gone everywhere."""

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
ALICE = "alice"  # blocks
BOB = "bob"  # is blocked


async def upload(page: Page, photo: Path, description: str) -> str:
    await page.goto("/upload")
    form = page.locator("form[data-upload-form]")
    await form.locator("input[name=file]").set_input_files(photo)
    await expect_photos_processed(form, 1)
    await form.locator("[name=description]").fill(description)
    await form.get_by_role("button", name="Post").click()
    await expect(page).to_have_url(re.compile(r"/images/\d+$"))
    return page.url.rsplit("/", 1)[-1]


async def test_block_someone_and_you_are_gone_from_their_session_in_chromium(
    start_server: ServerFactory,
    browser: Browser,
    artifacts: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await seed_site(settings, (ALICE, BOB), PASSWORD, users=2, images=4, comments=0, seed=9)
    server = await start_server(workers=1)
    photo = tmp_path / "harbour.jpg"
    photo.write_bytes(forge.render_photo("sea", 3))
    alice = await signed_in_page(browser, server, ALICE, PASSWORD)
    bob = await signed_in_page(browser, server, BOB, PASSWORD)
    errors = [BrowserErrors(alice), BrowserErrors(bob)]
    try:
        post_id = await upload(alice, photo, "Harbour lights")
        await bob.goto("/")
        card = bob.locator(f'[data-feed-items] > [data-image-id="{post_id}"]')
        await expect(card).to_be_visible()

        await alice.goto(f"/u/{BOB}")
        await alice.get_by_role("button", name=f"Block {BOB}").click()
        await expect(alice).to_have_url(re.compile(r"/blocked$"))
        await expect(alice.locator(".flash-stack .alert")).to_contain_text(f"You blocked {BOB}")
        await expect(alice.locator(f'[data-person="{BOB}"]')).to_be_visible()
        await screenshots(alice, artifacts, "blocks-list")

        # From Bob's own session, Alice is gone everywhere.
        await bob.goto("/")
        await expect(bob.locator("[data-feed-items] > [data-image-id]").first).to_be_visible()
        await expect(card).to_have_count(0)
        for path in (f"/u/{ALICE}", f"/images/{post_id}"):
            errors[1].expect_refusal(404, path)
            response = await bob.goto(path)
            assert response is not None and response.status == 404, path
        await bob.goto("/search?q=ali&type=users")
        await expect(bob.locator(".search-item-name", has_text=ALICE)).to_have_count(0)
        await screenshots(bob, artifacts, "blocks-seen-by-the-blocked")

        await alice.get_by_role("button", name=f"Unblock {BOB}").click()
        await expect(alice.locator("main")).to_contain_text("Nobody blocked")
        await bob.goto(f"/images/{post_id}")
        await expect(bob.locator("main")).to_contain_text("Harbour lights")
        for collected in errors:
            collected.assert_none()
    finally:
        await alice.context.close()
        await bob.context.close()

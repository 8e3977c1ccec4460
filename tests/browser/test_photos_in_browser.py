"""Upload, browse, comment and scroll, in a real Chromium against a real Hypercorn."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from gallery.devtools import forge
from gallery.settings import Settings
from tests.browser.conftest import (
    DESKTOP,
    BrowserErrors,
    GalleryServer,
    MailWatcher,
    expect_photos_processed,
    screenshots,
    seed_site,
    sign_in_with_form,
)

pytestmark = pytest.mark.browser

USERNAME = "paula"
EMAIL = "paula@example.com"
PASSWORD = "correct horse battery"
HOME_PAGE_SIZE = 12  # web/main.py: the first page of the home feed


async def forge_photos_of_others(settings: Settings, count: int) -> None:
    """Other people's photos, through the real pipeline, so the feed has two pages."""
    await seed_site(settings, (), PASSWORD, users=2, images=count, comments=6, seed=3)


async def register_activate_and_sign_in(
    page: Page, mails: MailWatcher, server: GalleryServer
) -> None:
    await page.goto("/register")
    form = page.locator("main form")
    await form.locator("[name=username]").fill(USERNAME)
    await form.locator("[name=email]").fill(EMAIL)
    await form.locator("[name=password]").fill(PASSWORD)
    await form.locator("[name=password2]").fill(PASSWORD)
    await form.get_by_role("button", name="Register").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto(await mails.activation_path(EMAIL, server.url))
    await expect(page.locator(".flash-stack")).to_contain_text("is active")
    await sign_in_with_form(page, server, USERNAME, PASSWORD)


async def test_upload_see_comment_scroll_and_sign_out_in_chromium(
    server: GalleryServer,
    mails: MailWatcher,
    browser: Browser,
    artifacts: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await forge_photos_of_others(settings, HOME_PAGE_SIZE + 1)
    photo = tmp_path / "harbour at dusk.jpg"
    photo.write_bytes(forge.render_photo("sea", 7))

    context = await browser.new_context(viewport=DESKTOP, base_url=server.url)
    context.set_default_timeout(8000)
    page = await context.new_page()
    watcher = BrowserErrors(page)
    navbar = page.locator("nav.site-nav")
    cards = page.locator("[data-feed] [data-feed-items] > [data-image-id]")
    try:
        await register_activate_and_sign_in(page, mails, server)

        # Post from the composer: the photo is sent as soon as it is chosen.
        await navbar.get_by_role("link", name="Upload").click()
        await expect(page).to_have_url(re.compile(r"/upload$"))
        form = page.locator("form[data-upload-form]")
        await form.locator("input[name=file]").set_input_files(photo)
        await expect_photos_processed(form, 1)
        await form.locator("[name=description]").fill("My first photo from the harbour")
        await screenshots(page, artifacts, "upload")
        await form.get_by_role("button", name="Post").click()

        # The post's page, then the top of the home page.
        await expect(page).to_have_url(re.compile(r"/images/\d+$"))
        await expect(page.locator(".detail-desc")).to_contain_text("from the harbour")
        await page.goto("/")
        await expect(cards).to_have_count(HOME_PAGE_SIZE)
        await expect(cards.first).to_contain_text("My first photo from the harbour")
        await expect(cards.first).to_contain_text(USERNAME)
        image = cards.first.locator("img").first
        assert await image.get_attribute("width") and await image.get_attribute("height")
        await screenshots(page, artifacts, "home-feed")

        # Scrolling to the end loads the second page from the JSON feed, in place.
        await page.evaluate("window.galleryTestMarker = 'same page'")
        await page.locator("[data-feed-sentinel]").scroll_into_view_if_needed()
        await expect(cards).to_have_count(HOME_PAGE_SIZE + 2)
        await expect(page.locator("[data-feed-end]")).to_be_visible()
        assert await page.evaluate("window.galleryTestMarker") == "same page"
        ids = [await card.get_attribute("data-image-id") for card in await cards.all()]
        assert len(set(ids)) == len(ids), "no image shown twice"
        assert ids == sorted(ids, key=int, reverse=True), "newest first across both pages"

        # Open the photo and comment in place (no page load).
        await cards.first.locator("a[href^='/images/']").first.click()
        await expect(page).to_have_url(re.compile(r"/images/\d+$"))
        image_url = page.url
        await page.evaluate("window.galleryTestMarker = 'same page'")
        comment_form = page.locator("#comment-form")
        await comment_form.locator("textarea[name=content]").fill("The light here is <b>lovely</b>")
        await comment_form.get_by_role("button", name="Post").click()
        comments = page.locator("[data-comment-list] > li.comment")
        await expect(comments).to_have_count(1)
        await expect(comments.first).to_contain_text("The light here is <b>lovely</b>")
        await expect(comment_form.locator("textarea[name=content]")).to_have_value("")
        await expect(
            page.locator(".detail-actions [data-comment-count] .count-value")
        ).to_have_text("1")
        assert await page.evaluate("window.galleryTestMarker") == "same page"
        assert page.url == image_url
        await screenshots(page, artifacts, "image-page")

        # A too long comment is refused with the server's message, text kept.
        watcher.expect_refusal(400, image_url.replace(server.url, "/api/v1") + "/comments")
        await comment_form.locator("textarea[name=content]").evaluate(
            "(area) => area.removeAttribute('maxlength')"
        )
        await comment_form.locator("textarea[name=content]").fill("x" * 1001)
        await comment_form.get_by_role("button", name="Post").click()
        await expect(page.locator("[data-comment-error]")).to_contain_text("too long")
        await expect(comment_form.locator("textarea[name=content]")).to_have_value("x" * 1001)
        await expect(comments).to_have_count(1)

        # It survives a reload, and the home feed shows it under the photo.
        await page.reload()
        await expect(comments).to_have_count(1)
        await page.goto("/")
        await expect(cards.first).to_contain_text("The light here is <b>lovely</b>")

        # Sign out.
        await navbar.get_by_role("button", name="Sign out").click()
        await expect(page.locator(".flash-stack")).to_contain_text("You are signed out.")
        await expect(navbar.get_by_role("link", name="Upload")).to_have_count(0)
    finally:
        await context.close()
    watcher.assert_none()

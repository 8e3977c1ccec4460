"""A post of several photos, from a phone-sized Chromium: compose, reorder, describe,
post, swipe the carousel, edit the caption, mark it sensitive."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from gallery.devtools import forge
from gallery.settings import Settings
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    BrowserErrors,
    GalleryServer,
    expect_photos_processed,
    screenshots,
    seed_site,
    sign_in_with_form,
)

pytestmark = pytest.mark.browser

USERNAME = "paula"
PASSWORD = "correct horse battery"


async def test_compose_a_carousel_on_a_phone_then_edit_and_mark_it(
    server: GalleryServer,
    browser: Browser,
    artifacts: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    # Two people of our own, and a couple of forged ones for company (few: each
    # goes through the real pipeline, every srcset width included).
    await seed_site(
        settings, (USERNAME, "ruth"), PASSWORD, users=2, images=2, comments=2, likes=2, follows=2
    )
    files = []
    for index, scene in enumerate(("sea", "hills", "city")):
        path = tmp_path / f"{index + 1}-{scene}.jpg"
        path.write_bytes(forge.render_photo(scene, index))
        files.append(path)

    context = await browser.new_context(
        viewport=PHONE, base_url=server.url, has_touch=True, is_mobile=True
    )
    context.set_default_timeout(10_000)
    page = await context.new_page()
    watcher = BrowserErrors(page)
    try:
        await sign_in_with_form(page, server, USERNAME, PASSWORD)
        await page.goto("/upload")
        form = page.locator("form[data-upload-form]")
        previews = form.locator("[data-upload-preview]")

        # Pick three photos: each is sent at once, with a progress bar of its own.
        await form.locator("input[name=file]").set_input_files(files)
        await expect(previews).to_have_count(3)
        await expect_photos_processed(form, 3)
        names = form.locator(".upload-preview-name")
        await expect(names).to_have_text(["1-sea.jpg", "2-hills.jpg", "3-city.jpg"])

        # Alt texts (the reminder shows until one is written), then reorder and remove.
        alts = form.locator("[data-alt-text]")
        await expect(form.locator(".upload-alt-reminder").first).to_be_visible()
        await alts.nth(0).fill("Waves breaking on a grey beach")
        await expect(form.locator(".upload-alt-reminder").first).to_be_hidden()
        await alts.nth(1).fill("A path through <tall> pines")
        await alts.nth(2).fill("Night traffic on a bridge")
        # The city first: move it up twice.
        await previews.nth(2).locator("[data-move-earlier]").click()
        await previews.nth(1).locator("[data-move-earlier]").click()
        await expect(names).to_have_text(["3-city.jpg", "1-sea.jpg", "2-hills.jpg"])
        await expect(alts.nth(0)).to_have_value("Night traffic on a bridge")
        # A fourth photo, chosen by mistake, removed again.
        await form.locator("input[name=file]").set_input_files(files[0])
        await expect(previews).to_have_count(4)
        await expect_photos_processed(form, 4)
        await previews.nth(3).locator("[data-remove-photo]").click()
        await expect(previews).to_have_count(3)

        await form.locator("[name=description]").fill("Three places in one day #trip")
        await page.screenshot(path=artifacts / "composer-phone.png", full_page=True)
        await form.get_by_role("button", name="Post").click()
        await expect(page).to_have_url(re.compile(r"/images/\d+$"))
        post_url = page.url

        # The carousel: three slides in the order chosen, alt texts as alt attributes.
        slides = page.locator("[data-carousel-slide]")
        await expect(slides).to_have_count(3)
        await expect(slides.nth(0).locator("img")).to_have_attribute(
            "alt", "Night traffic on a bridge"
        )
        await expect(slides.nth(2).locator("img")).to_have_attribute(
            "alt", "A path through <tall> pines"
        )
        # Served sharp and small: a srcset in WebP, JPEG widths on the <img>, a placeholder.
        first = slides.nth(0)
        await expect(first.locator("source[type='image/webp']")).to_have_attribute(
            "srcset",
            re.compile(r"_w320\.webp\S* 320w"),  # \S*: a bucket's signed query
        )
        await expect(first.locator("img")).to_have_attribute(
            "srcset", re.compile(r"_w320\.jpg\S* 320w")
        )
        await expect(first.locator("img")).to_have_attribute("data-blurhash", re.compile(r".{20,}"))
        # The phone picked a small file, not the largest.
        chosen = await first.locator("img").evaluate("(img) => img.currentSrc")
        assert "_w2048" not in chosen, chosen

        # Swipe left: the second photo comes into view and the dots follow.
        carousel = page.locator("[data-carousel]")
        track = page.locator("[data-carousel-track]")
        box = await track.bounding_box()
        assert box is not None
        y = box["y"] + box["height"] / 2
        await swipe(page, box["x"] + box["width"] * 0.85, box["x"] + box["width"] * 0.1, y)
        await expect(carousel).to_have_attribute("data-carousel-index", "1")
        await expect(page.locator("[data-carousel-dot]").nth(1)).to_have_attribute(
            "aria-current", "true"
        )
        # The ALT badge shows the description on request.
        await slides.nth(1).locator(".alt-badge-button").click()
        await expect(slides.nth(1).locator(".alt-badge-text")).to_have_text(
            "Waves breaking on a grey beach"
        )
        await page.screenshot(path=artifacts / "carousel-phone.png")

        # On a desktop: the arrow and the keyboard.
        await page.set_viewport_size(DESKTOP)
        await page.goto(post_url)
        await page.locator("[data-carousel-next]").click()
        await expect(carousel).to_have_attribute("data-carousel-index", "1")
        await track.focus()
        await page.keyboard.press("ArrowRight")
        await expect(carousel).to_have_attribute("data-carousel-index", "2")
        await expect(page.locator("[data-carousel-next]")).to_be_disabled()
        await page.set_viewport_size(PHONE)

        # Edit the caption: "edited" shows, the old words are in the history.
        await page.locator("[data-edit-post]").click()
        await page.locator("#edit-description").fill("Three places, one long day #travel")
        await page.get_by_role("button", name="Save changes").click()
        await expect(page).to_have_url(post_url)
        await expect(page.locator(".detail-desc")).to_contain_text("one long day")
        await page.locator("[data-edited]").click()
        await expect(page.locator("[data-version]")).to_have_count(2)
        await expect(page.locator("[data-version]").nth(1)).to_contain_text(
            "Three places in one day #trip"
        )

        # Mark it sensitive: blurred behind the warning, for Ruth too, until she asks.
        await page.goto(post_url)
        switch = page.locator("[data-sensitive-switch]")
        await switch.locator("[name=content_warning]").fill("Flashing lights")
        await switch.get_by_role("button", name="Mark sensitive").click()
        await expect(page.locator("[data-carousel]")).to_have_class(re.compile("is-sensitive"))
        await expect(page.locator("[data-sensitive-cover]")).to_contain_text("Flashing lights")
        watcher.assert_none()
    finally:
        await screenshots(page, artifacts, "post-page")
        await context.close()

    ruth_context = await browser.new_context(viewport=DESKTOP, base_url=server.url)
    ruth_context.set_default_timeout(10_000)
    ruth = await ruth_context.new_page()
    ruth_watcher = BrowserErrors(ruth)
    try:
        await sign_in_with_form(ruth, server, "ruth", PASSWORD)
        card = ruth.locator("[data-feed-items] > [data-image-id]").first
        await expect(card.locator(".photo-card-frame")).to_have_class(re.compile("is-sensitive"))
        await expect(card.locator("[data-photo-count]")).to_contain_text("3")
        image = card.locator("img.photo-card-img")
        assert "blur" in await image.evaluate("(img) => getComputedStyle(img).filter")
        await card.locator(".sensitive-cover-summary").click()
        await expect(image).to_have_css("filter", "none")
        # Saved for later, in place; the saved page lists it.
        await card.locator("[data-save-button]").click()
        await expect(card.locator("[data-save-button]")).to_have_attribute("aria-pressed", "true")
        # The button shows the save at once, before the request ends; leaving the
        # page then could cancel it. The form is busy until the answer is in.
        await expect(card.locator("[data-save-form]")).not_to_have_attribute("aria-busy", "true")
        await ruth.goto("/saved")
        await expect(ruth.locator("[data-feed-items] > [data-image-id]")).to_have_count(1)
        ruth_watcher.assert_none()
    finally:
        await ruth_context.close()


async def swipe(page: Page, from_x: float, to_x: float, y: float) -> None:
    """A one-finger swipe, as a phone's touch screen sends it (Chrome DevTools Protocol)."""
    session = await page.context.new_cdp_session(page)
    steps = 8
    await session.send(
        "Input.dispatchTouchEvent",
        {"type": "touchStart", "touchPoints": [{"x": from_x, "y": y}]},
    )
    for step in range(1, steps + 1):
        x = from_x + (to_x - from_x) * step / steps
        await session.send(
            "Input.dispatchTouchEvent",
            {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]},
        )
        await page.wait_for_timeout(16)
    await session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    await session.detach()

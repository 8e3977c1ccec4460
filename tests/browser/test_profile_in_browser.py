"""A profile, the colour mode, passkeys and two-factor sign-in in a real
Chromium against a real Hypercorn.

Dana sets a display name and a bio, chooses an avatar and moves its square to
the right half of the photo (only that half is blue), then picks the dark mode;
"follow my system" then follows what the browser says, before the page draws.
Then she adds a passkey and an authenticator app, and signs in with each.
Last, she asks for her data and downloads the zip the mail links to.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pyotp
import pytest
from PIL import Image as PILImage
from playwright.async_api import Browser, Page, expect

from gallery.settings import Settings
from tests.browser.conftest import (
    BrowserErrors,
    GalleryServer,
    MailWatcher,
    ServerFactory,
    screenshots,
    seed_site,
    signed_in_page,
)
from tests.mailbox import link_in

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
DANA = "dana"

# Recorded before any script of the page runs: the colour mode the document
# had when its <body> appeared, which is what the first paint shows.
THEME_AT_FIRST_BODY = """
new MutationObserver((changes, observer) => {
  if (document.body) {
    window.__themeAtBody = document.documentElement.getAttribute("data-bs-theme");
    observer.disconnect();
  }
}).observe(document, { childList: true, subtree: true });
"""


def red_and_blue(path: Path) -> None:
    """A 600 × 300 photo, red on its left half and blue on its right."""
    image = PILImage.new("RGB", (600, 300), (220, 20, 20))
    image.paste((20, 20, 220), (300, 0, 600, 300))
    image.save(path, "JPEG", quality=95)


async def centre_colour(server: GalleryServer, page: Page, selector: str) -> tuple[int, ...]:
    """The middle pixel of the image an ``<img>`` shows (fetched as the browser would)."""
    source = await page.locator(selector).first.evaluate("image => image.currentSrc")
    async with httpx.AsyncClient() as client:
        response = await client.get(urljoin(server.url + "/", source))
    assert response.status_code == 200, source
    with PILImage.open(io.BytesIO(response.content)) as image:
        rgb = image.convert("RGB")
        return tuple(rgb.getpixel((rgb.width // 2, rgb.height // 2)))


async def body_background(page: Page) -> str:
    return await page.evaluate("getComputedStyle(document.body).backgroundColor")


async def test_a_profile_with_a_cropped_avatar_and_the_dark_mode(
    start_server: ServerFactory,
    browser: Browser,
    artifacts: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await seed_site(settings, (DANA,), PASSWORD, users=1, images=2, comments=0, seed=8)
    server = await start_server(workers=1)
    photo = tmp_path / "halves.jpg"
    red_and_blue(photo)
    page = await signed_in_page(browser, server, DANA, PASSWORD)
    errors = BrowserErrors(page)
    await page.context.add_init_script(THEME_AT_FIRST_BODY)
    try:
        # Before any upload: initials on a colour, not a grey figure.
        await page.goto(f"/u/{DANA}")
        avatar = page.locator("[data-profile-avatar]")
        assert (await avatar.get_attribute("src") or "").startswith("/avatars/")

        await page.goto("/settings/profile")
        await page.get_by_label("Display name").fill("Dana Ørsted")
        await page.get_by_label("Bio").fill("Rivers and bridges. #rivers https://dana.example")
        await page.get_by_label("Website").fill("dana.example")
        await page.get_by_role("button", name="Save profile").click()
        await expect(page.locator(".flash-stack .alert").last).to_contain_text(
            "Your profile is saved."
        )

        # The avatar: the square starts in the middle; moved right with the keys.
        await page.get_by_label("New avatar").set_input_files(photo)
        square = page.locator("[data-crop-box]")
        await expect(square).to_be_visible()
        await square.focus()
        for _ in range(20):
            await square.press("Shift+ArrowRight")
        await screenshots(page, artifacts, "profile-avatar-crop")
        await page.get_by_role("button", name="Use this avatar").click()
        await expect(page.locator(".flash-stack .alert").last).to_contain_text(
            "Your avatar is changed."
        )
        red, _, blue = await centre_colour(server, page, "[data-current-avatar]")
        assert blue > 150 and red < 80, (red, blue)

        await page.goto(f"/u/{DANA}")
        await expect(page.locator("[data-profile-display-name]")).to_have_text("Dana Ørsted")
        bio = page.locator("[data-profile-bio]")
        await expect(bio.get_by_role("link", name="#rivers")).to_have_attribute(
            "href", "/tags/rivers"
        )
        await expect(bio.get_by_role("link", name="https://dana.example")).to_have_attribute(
            "rel", "nofollow ugc noopener"
        )
        await expect(page.locator("[data-profile-website]")).to_have_text("dana.example")
        red, _, blue = await centre_colour(server, page, "[data-profile-avatar]")
        assert blue > 150 and red < 80, (red, blue)
        light = await body_background(page)
        await screenshots(page, artifacts, "profile-light")

        # Dark, chosen: set by the server, there from the first paint.
        await page.goto("/settings/appearance")
        await page.get_by_label("Dark", exact=True).check()
        await page.get_by_role("button", name="Save").click()
        await expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
        await page.goto(f"/u/{DANA}")
        assert await page.evaluate("window.__themeAtBody") == "dark"
        dark = await body_background(page)
        assert dark != light
        await screenshots(page, artifacts, "profile-dark")

        # Following the system: the browser says dark, then light, and the open
        # page follows without a reload.
        await page.emulate_media(color_scheme="dark")
        await page.goto("/settings/appearance")
        await page.get_by_label("Follow my system").check()
        await page.get_by_role("button", name="Save").click()
        await page.goto("/")
        assert await page.evaluate("window.__themeAtBody") == "dark"
        await expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
        await page.emulate_media(color_scheme="light")
        await expect(page.locator("html")).to_have_attribute("data-bs-theme", "light")
        assert await body_background(page) == light
        errors.assert_none()
    finally:
        await page.context.close()


async def test_a_passkey_and_an_authenticator_app_each_sign_in(
    start_server: ServerFactory, browser: Browser, artifacts: Path, settings: Settings
) -> None:
    """Chromium's virtual authenticator (a platform one, with the user verified)
    makes and uses the passkey; pyotp is the authenticator app."""
    await seed_site(settings, (DANA,), PASSWORD, users=1, images=1, comments=0, seed=9)
    server = await start_server(workers=1)
    # A passkey needs a host name: browsers refuse an IP address as the relying party.
    site = f"http://localhost:{server.port}"
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, base_url=site)
    context.set_default_timeout(8000)
    page = await context.new_page()
    errors = BrowserErrors(page)
    authenticator = await context.new_cdp_session(page)
    await authenticator.send("WebAuthn.enable")
    await authenticator.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )

    async def sign_out() -> None:
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.locator(".flash-stack .alert").last).to_contain_text("signed out")

    async def password_form() -> None:
        await page.goto("/login")
        await page.locator("main form [name=login]").fill(DANA)
        await page.locator("main form [name=password]").fill(PASSWORD)
        await page.locator("main form").get_by_role("button", name="Sign in").click()

    try:
        await password_form()
        await expect(page).to_have_url(site + "/")

        await page.goto("/settings/security")
        await page.get_by_label("Name it after where it is kept").fill("This laptop")
        await page.get_by_role("button", name="Add a passkey").click()
        await expect(page.locator("[data-passkey-name]")).to_have_text(["This laptop"])

        await page.get_by_role("button", name="Set up two-factor sign-in").click()
        secret = await page.locator("[data-totp-secret]").get_attribute("data-totp-secret")
        assert secret
        await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        await page.get_by_role("button", name="Turn on").click()
        await expect(page.locator("[data-recovery-codes] li")).to_have_count(10)
        await screenshots(page, artifacts, "security-recovery-codes")
        await page.get_by_role("link", name="I have kept them").click()
        await expect(page.locator("[data-two-factor]")).to_have_attribute("data-two-factor", "on")
        await screenshots(page, artifacts, "security-settings")

        # The passkey alone signs in: no password, no code.
        await sign_out()
        await page.goto("/login")
        await page.get_by_role("button", name="Sign in with a passkey").click()
        await expect(page.locator(".flash-stack .alert").last).to_contain_text("Welcome back")
        await expect(page).to_have_url(site + "/")

        # The password then asks for the app's code (the next one: the last is used up).
        await sign_out()
        await password_form()
        await expect(page).to_have_url(site + "/login/code")
        await page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator(".flash-stack .alert").last).to_contain_text("Welcome back")
        errors.assert_none()
    finally:
        await context.close()


async def test_her_data_is_mailed_as_a_link_and_downloads_as_a_zip(
    start_server: ServerFactory,
    browser: Browser,
    artifacts: Path,
    settings: Settings,
    mails: MailWatcher,
    tmp_path: Path,
) -> None:
    await seed_site(settings, (DANA,), PASSWORD, users=1, images=1, comments=0, seed=9)
    server = await start_server(workers=1)
    photo = tmp_path / "halves.jpg"
    red_and_blue(photo)
    page = await signed_in_page(browser, server, DANA, PASSWORD)
    errors = BrowserErrors(page)
    try:
        me = await (await page.request.get("/api/v1/me")).json()
        posted = await page.request.post(
            "/api/v1/images",
            multipart={
                "file": {
                    "name": "halves.jpg",
                    "mimeType": "image/jpeg",
                    "buffer": photo.read_bytes(),
                },
                "description": "Red and blue",
            },
            headers={"X-CSRF-Token": me["csrf_token"]},
        )
        assert posted.status == 201, await posted.text()

        await page.goto("/settings/data")
        await page.get_by_role("button", name="Ask for my archive").click()
        await expect(page.locator(".flash-stack .alert").last).to_contain_text(
            "Your archive is being made"
        )
        # The server's own worker builds it and mails the link.
        mail = await mails.wait_for(f"{DANA}@example.com", subject="data is ready", timeout=30)
        link = link_in(mail, server.url, "/settings/data/")
        await page.reload()
        download_link = page.get_by_role("link", name="Download")
        await expect(download_link).to_be_visible()
        assert await download_link.get_attribute("href") == link
        await screenshots(page, artifacts, "settings-your-data")
        async with page.expect_download() as downloading:
            await download_link.click()
        download = await downloading.value
        assert download.suggested_filename.startswith(f"gallery-{DANA}-")
        saved = tmp_path / "export.zip"
        await download.save_as(saved)
        with zipfile.ZipFile(saved) as archive:
            assert archive.testzip() is None
            (post,) = json.loads(archive.read("posts.json"))
            assert post["caption"] == "Red and blue"
            # The full-size original (as stored: cleaned of its metadata).
            kept = PILImage.open(io.BytesIO(archive.read(post["photos"][0]["file"])))
            assert kept.size == PILImage.open(photo).size
            assert json.loads(archive.read("profile.json"))["username"] == DANA
        errors.assert_none()
    finally:
        await page.context.close()

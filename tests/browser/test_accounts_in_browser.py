"""A person's first visit, in a real Chromium against a real Hypercorn server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    BrowserErrors,
    GalleryServer,
    MailWatcher,
    screenshots,
)

pytestmark = pytest.mark.browser

USERNAME = "alice"
EMAIL = "alice@example.com"
PASSWORD = "correct horse battery"


async def test_register_activate_sign_in_and_out_in_chromium(
    server: GalleryServer, mails: MailWatcher, browser: Browser, artifacts: Path
) -> None:
    context = await browser.new_context(viewport=DESKTOP, base_url=server.url)
    context.set_default_timeout(5000)
    page = await context.new_page()
    watcher = BrowserErrors(page)
    navbar = page.locator("nav.site-nav")
    flashes = page.locator(".flash-stack")

    try:
        response = await page.goto("/")
        assert response is not None
        csp = (await response.all_headers()).get("content-security-policy", "")
        assert "script-src 'self'" in csp, "the pages are served with a strict CSP"
        await expect(navbar.get_by_role("link", name="Sign in")).to_be_visible()
        await screenshots(page, artifacts, "home")

        # The scripts run under that CSP: Bootstrap opens the phone's navbar menu.
        assert await page.evaluate("typeof window.bootstrap") == "object"
        await page.set_viewport_size(PHONE)
        await expect(navbar.get_by_role("link", name="Sign in")).to_be_hidden()
        await navbar.get_by_role("button", name="Toggle navigation").click()
        await expect(navbar.get_by_role("link", name="Sign in")).to_be_visible()
        await page.set_viewport_size(DESKTOP)

        # Register.
        await page.goto("/register")
        await screenshots(page, artifacts, "register")
        form = page.locator("main form")
        await form.locator("[name=username]").fill(USERNAME)
        await form.locator("[name=email]").fill(EMAIL)
        await form.locator("[name=password]").fill(PASSWORD)
        await form.locator("[name=password2]").fill(PASSWORD)
        await form.get_by_role("button", name="Register").click()
        await expect(page).to_have_url(re.compile(r"/login$"))
        await expect(flashes).to_contain_text(f"Welcome, {USERNAME}! We sent a link to {EMAIL}")
        await screenshots(page, artifacts, "login")

        # Signing in before activating says why it fails.
        await sign_in(page)
        await expect(page.locator("main")).to_contain_text("not activated yet")
        await expect(page.get_by_role("link", name="Send me a new activation link")).to_be_visible()
        await expect(navbar.get_by_role("link", name="Sign in")).to_be_visible()

        # The server's own mail worker sends the activation mail.
        path = await mails.activation_path(EMAIL, server.url)
        await page.goto(path)
        await expect(page).to_have_url(re.compile(r"/login$"))
        await expect(flashes).to_contain_text(f"Your account {USERNAME} is active")

        await sign_in(page)
        await expect(page).to_have_url(server.url + "/")
        await expect(flashes).to_contain_text(f"Welcome back, {USERNAME}.")
        account_link = navbar.get_by_role("link", name=re.compile(r"Account"))
        await expect(account_link).to_contain_text(USERNAME)
        await expect(navbar.get_by_role("link", name="Sign in")).to_have_count(0)

        # The account page lists this very session.
        await account_link.click()
        await expect(page).to_have_url(re.compile(r"/account$"))
        # The settings pages' heading is "Settings"; the account's name heads its section.
        await expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
        await expect(page.get_by_role("heading", name=USERNAME, level=2)).to_be_visible()
        sessions = page.locator(".sign-in-list > li")
        await expect(sessions).to_have_count(1)
        await expect(sessions.first).to_contain_text("this device")
        user_agent = await page.evaluate("navigator.userAgent")
        await expect(sessions.first.locator(".user-agent")).to_contain_text(user_agent[:40])
        await expect(sessions.first).to_contain_text("127.0.0.1")
        await screenshots(page, artifacts, "account")

        # Sign out with the navbar's form.
        await navbar.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(server.url + "/")
        await expect(flashes).to_contain_text("You are signed out.")
        await expect(navbar.get_by_role("link", name="Sign in")).to_be_visible()
        await expect(navbar.get_by_role("button", name="Sign out")).to_have_count(0)
        response = await page.goto("/account")
        assert response is not None
        assert response.url.startswith(server.url + "/login"), response.url
    finally:
        await context.close()

    watcher.assert_none()


async def sign_in(page: Page) -> None:
    await page.goto("/login")
    form = page.locator("main form")
    await form.locator("[name=login]").fill(USERNAME)
    await form.locator("[name=password]").fill(PASSWORD)
    await form.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()

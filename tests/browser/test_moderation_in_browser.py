"""Running the site from /admin, in a real Chromium against a real Hypercorn.

Bob reports Mallory's photo and her rude comment; an administrator made with
``gallery create-admin`` (the way the README says) locks her from the account
list, works down the report queue and finds it all in the moderation log;
Mallory, locked, sees the banner and has her like refused in place.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Dialog, Locator, Page, expect

from gallery.infra.runtime import Runtime
from gallery.services.permissions import LOCKED_MESSAGE
from gallery.settings import Settings
from tests.browser.conftest import (
    BrowserErrors,
    GalleryServer,
    ServerFactory,
    screenshots,
    signed_in_page,
)
from tests.helpers import make_active_user
from tests.images import store_image
from tests.test_cli import gallery_env

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"
ADMIN = "Ada"  # made by `gallery create-admin`
BOB = "bob"  # reports
MALLORY = "mallory"  # spams and insults

BOB_PHOTO = "Harbour at dusk"
MALLORY_PHOTO = "Cheap followers here, DM me"
RUDE_COMMENT = "What an ugly picture, you clown."

PHOTO_REASON = "Selling followers in the caption."
COMMENT_REASON = "She insults me under my own photo."
LOCK_REASON = "Spam and insults, see the reports."
DELETE_REASON = "Insult to another member."
DISMISS_REASON = "Only a pushy caption; she is locked anyway."

THANKS = "Thanks for the report: a moderator will look at it."
ALREADY = "You have already reported this photo; a moderator will look at it."


async def make_people_and_photos(settings: Settings) -> dict[str, int]:
    """Bob and Mallory (plain, activated accounts), a photo each."""
    runtime = Runtime.from_settings(settings)
    await runtime.start(run_worker=False)
    try:
        bob = await make_active_user(runtime, BOB, f"{BOB}@example.com", PASSWORD)
        mallory = await make_active_user(runtime, MALLORY, f"{MALLORY}@example.com", PASSWORD)
        return {
            "mallory": mallory,
            "bob_photo": await store_image(runtime, bob, BOB_PHOTO),
            "mallory_photo": await store_image(runtime, mallory, MALLORY_PHOTO),
        }
    finally:
        await runtime.stop()


def create_admin(settings: Settings, server: GalleryServer, cwd: Path) -> None:
    """``gallery create-admin USERNAME EMAIL --password-stdin``, as the README says."""
    env = gallery_env(settings)
    # The very database (and instance folder) the running server uses.
    for name in ("GALLERY_DATABASE_URL", "GALLERY_INSTANCE_DIR"):
        assert env[name] == server.env[name], name
    command = ["create-admin", ADMIN, "ada@example.com", "--password-stdin"]
    result = subprocess.run(
        [sys.executable, "-m", "gallery.cli", *command],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,  # not the checkout: no developer's .env
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Administrator {ADMIN} created." in result.stdout


async def signed_in(browser: Browser, server: GalleryServer, username: str) -> Page:
    page = await signed_in_page(browser, server, username, PASSWORD)
    # The deferred scripts (Bootstrap's dropdown, app.js's confirm) are in.
    await page.wait_for_load_state("load")
    return page


async def report(page: Page, link: Locator, preset: str, reason: str) -> None:
    """Follow a "Report" link, choose a suggested reason, add words, send."""
    await link.click()
    await expect(page).to_have_url(re.compile(r"/(images|comments)/\d+/report$"))
    form = page.locator("form[data-report-form]")
    await form.get_by_label(preset, exact=True).check()
    await form.locator("textarea[name=reason]").fill(reason)
    await form.get_by_role("button", name="Send report").click()


def flash(page: Page) -> Locator:
    return page.locator(".flash-stack")


async def image_loaded(page: Page, image: Locator) -> None:
    await image.scroll_into_view_if_needed()
    handle = await image.element_handle()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)


async def test_an_administrator_runs_the_site_from_admin_in_chromium(
    start_server: ServerFactory,
    browser: Browser,
    artifacts: Path,
    settings: Settings,
    tmp_path: Path,
) -> None:
    ids = await make_people_and_photos(settings)
    bob_photo, mallory_photo = ids["bob_photo"], ids["mallory_photo"]
    server = await start_server(workers=1)
    await asyncio.to_thread(create_admin, settings, server, tmp_path)

    contexts: list[BrowserContext] = []
    errors: list[BrowserErrors] = []
    try:
        # -- 1. Mallory comments rudely on Bob's photo --------------------------
        mallory = await signed_in(browser, server, MALLORY)
        contexts.append(mallory.context)
        mallory_errors = BrowserErrors(mallory)
        errors.append(mallory_errors)
        await mallory.goto(f"/images/{bob_photo}")
        await expect(mallory.locator("[data-locked-banner]")).to_have_count(0)
        comment_form = mallory.locator("#comment-form")
        await comment_form.locator("textarea[name=content]").fill(RUDE_COMMENT)
        await comment_form.get_by_role("button", name="Post").click()
        rude = mallory.locator("[data-comment-list] > li.comment")
        await expect(rude).to_have_count(1)
        await expect(rude).to_contain_text(RUDE_COMMENT)
        comment_id = await rude.get_attribute("data-comment-id")
        assert comment_id and comment_id.isdigit()

        # -- 2. Bob reports her photo and her comment ---------------------------
        bob = await signed_in(browser, server, BOB)
        contexts.append(bob.context)
        errors.append(BrowserErrors(bob))
        await bob.goto(f"/images/{mallory_photo}")
        await report(
            bob,
            bob.get_by_role("link", name="Report this photo"),
            "Spam or advertising",
            PHOTO_REASON,
        )
        await expect(bob).to_have_url(server.url + f"/images/{mallory_photo}")
        await expect(flash(bob)).to_contain_text(THANKS)

        await bob.goto(f"/images/{bob_photo}")
        comment = bob.locator(f"#comment-{comment_id}")
        await expect(comment).to_contain_text(RUDE_COMMENT)
        await report(
            bob,
            comment.get_by_role("link", name=f"Report comment by {MALLORY}"),
            "Harassment or hate",
            COMMENT_REASON,
        )
        await expect(bob).to_have_url(re.compile(rf"/images/{bob_photo}(#comment-{comment_id})?$"))
        await expect(flash(bob)).to_contain_text(THANKS)

        # Once is enough: the second report of the photo is turned away kindly.
        await bob.goto(f"/images/{mallory_photo}")
        await report(
            bob,
            bob.get_by_role("link", name="Report this photo"),
            "Spam or advertising",
            "Still there!",
        )
        await expect(bob).to_have_url(server.url + f"/images/{mallory_photo}")
        await expect(flash(bob)).to_contain_text(ALREADY)
        await expect(flash(bob)).not_to_contain_text(THANKS)

        # -- 3. The administrator: Moderation → Admin, counts, lock Mallory -----
        admin = await signed_in(browser, server, ADMIN)
        contexts.append(admin.context)
        errors.append(BrowserErrors(admin))
        await admin.locator("[data-moderation-menu]").click()
        menu = admin.locator(".nav-moderation .dropdown-menu")
        await expect(menu).to_be_visible()
        await menu.get_by_role("link", name="Admin", exact=True).click()
        await expect(admin).to_have_url(server.url + "/admin")
        await expect(admin.get_by_role("heading", name="Administration")).to_be_visible()
        counts = admin.locator(".admin-counts")
        await expect(counts.locator("[data-count=open_reports] [data-count-value]")).to_have_text(
            "2"
        )
        await expect(counts.locator("[data-count=users] [data-count-value]")).to_have_text("3")
        await expect(counts.locator("[data-count=locked_users] [data-count-value]")).to_have_text(
            "0"
        )
        await expect(admin.locator("[data-admin-users] > li")).to_have_count(3)
        await screenshots(admin, artifacts, "admin-dashboard")

        await admin.locator("#admin-q").fill("mall")
        await admin.locator("form.admin-search").get_by_role("button", name="Search").click()
        await expect(admin).to_have_url(server.url + "/admin?q=mall")
        rows = admin.locator("[data-admin-users] > li")
        await expect(rows).to_have_count(1)
        row = admin.locator(f'[data-admin-users] > li[data-user="{MALLORY}"]')
        await expect(row.locator("[data-status]")).to_contain_text("active")
        await row.get_by_label(f"Why lock {MALLORY}").fill(LOCK_REASON)
        await row.get_by_role("button", name=f"Lock {MALLORY}", exact=True).click()
        await expect(admin).to_have_url(server.url + "/admin?q=mall")
        await expect(flash(admin)).to_contain_text(f"{MALLORY} is locked.")
        status = row.locator("[data-status]")
        await expect(status.locator(".badge")).to_have_text("locked")
        await expect(status).to_contain_text(LOCK_REASON)
        await expect(
            row.get_by_role("button", name=f"Unlock {MALLORY}", exact=True)
        ).to_be_visible()
        await expect(counts.locator("[data-count=locked_users] [data-count-value]")).to_have_text(
            "1"
        )
        await screenshots(admin, artifacts, "admin-dashboard-locked")

        # -- 4. The report queue: both targets, their content, Bob's reasons ----
        await admin.locator(".admin-tabs").get_by_role("link", name="Reports").click()
        await expect(admin).to_have_url(server.url + "/admin/reports")
        groups = admin.locator("[data-report-queue] > li")
        await expect(groups).to_have_count(2)
        photo_group = admin.locator(f"#report-image-{mallory_photo}")
        comment_group = admin.locator(f"#report-comment-{comment_id}")
        thumb = photo_group.locator(".admin-report-thumb img")
        await expect(thumb).to_have_attribute("alt", f"Reported photo by {MALLORY}")
        await image_loaded(admin, thumb)
        await expect(photo_group.locator(".admin-report-content")).to_have_text(MALLORY_PHOTO)
        await expect(photo_group.locator("[data-report-count]")).to_have_text("1 report")
        photo_reasons = photo_group.locator(".admin-report-reasons > li")
        await expect(photo_reasons).to_have_count(1)
        await expect(photo_reasons).to_contain_text(BOB)
        await expect(photo_reasons).to_contain_text(f"Spam or advertising: {PHOTO_REASON}")
        await expect(comment_group.locator("blockquote.admin-report-content")).to_have_text(
            RUDE_COMMENT
        )
        await expect(comment_group.locator("[data-report-count]")).to_have_text("1 report")
        comment_reasons = comment_group.locator(".admin-report-reasons > li")
        await expect(comment_reasons).to_have_count(1)
        await expect(comment_reasons).to_contain_text(BOB)
        await expect(comment_reasons).to_contain_text(f"Harassment or hate: {COMMENT_REASON}")
        # Mallory is locked already: no "Lock author" any more, a badge instead.
        for group in (photo_group, comment_group):
            await expect(group.locator(".badge", has_text="locked")).to_be_visible()
            await expect(
                group.get_by_role("button", name=re.compile("^Lock author"))
            ).to_have_count(0)
        await screenshots(admin, artifacts, "admin-reports")

        # Deleting asks first (app.js's data-confirm); the administrator agrees.
        questions: list[str] = []

        async def agree(dialog: Dialog) -> None:
            questions.append(dialog.message)
            await dialog.accept()

        admin.on("dialog", agree)
        await comment_group.get_by_label("Why delete (optional)").fill(DELETE_REASON)
        await comment_group.get_by_role("button", name="Delete comment").click()
        await expect(flash(admin)).to_contain_text("The reported comment is deleted.")
        assert questions == ["Delete this comment for good?"]
        await expect(admin).to_have_url(server.url + "/admin/reports")
        await expect(groups).to_have_count(1)
        await expect(photo_group).to_be_visible()

        await photo_group.get_by_label("Why dismiss (optional)").fill(DISMISS_REASON)
        await photo_group.get_by_role("button", name=re.compile("^Dismiss")).click()
        await expect(flash(admin)).to_contain_text("Dismissed 1 report on the photo.")
        await expect(admin).to_have_url(server.url + "/admin/reports")
        await expect(groups).to_have_count(0)
        await expect(admin.locator("[data-queue-empty]")).to_contain_text("No open reports")
        assert len(questions) == 1, "dismissing must not ask"

        # -- 5. The moderation log: newest first, who, whom and why -------------
        await admin.locator(".admin-tabs").get_by_role("link", name="Moderation log").click()
        await expect(admin).to_have_url(server.url + "/admin/log")
        entries = admin.locator("[data-moderation-log] > li")
        await expect(entries).to_have_count(3)
        expected = [
            ("dismiss_reports", "Dismissed reports", DISMISS_REASON, MALLORY_PHOTO),
            ("delete_comment", "Deleted a comment", DELETE_REASON, RUDE_COMMENT),
            ("lock_user", "Locked an account", LOCK_REASON, f"Locked {MALLORY}"),
        ]
        for index, (action, label, reason, summary) in enumerate(expected):
            entry = entries.nth(index)
            await expect(entry).to_have_attribute("data-log-entry", action)
            await expect(entry.locator("[data-log-action]")).to_have_text(label)
            await expect(entry.locator("[data-log-actor]")).to_have_text(ADMIN)
            await expect(entry.locator("[data-log-subject]")).to_have_text(MALLORY)
            await expect(entry.locator("[data-log-reason]")).to_have_text(f"Reason: {reason}")
            await expect(entry.locator("[data-log-summary]")).to_contain_text(summary)
        await screenshots(admin, artifacts, "admin-log")

        # -- 6. Mallory, locked: the banner, and her like refused in place ------
        await mallory.goto(f"/images/{bob_photo}")
        banner = mallory.locator("[data-locked-banner]")
        await expect(banner).to_be_visible()
        await expect(banner).to_have_text(LOCKED_MESSAGE)
        # The deleted comment is gone for her too.
        await expect(mallory.locator("[data-comment-list] > li.comment")).to_have_count(0)
        likes = mallory.locator(".detail-actions [data-like-count]")
        count = likes.locator(".count-value")
        await expect(count).to_have_text("0")
        mallory_errors.expect_refusal(403, f"/api/v1/images/{bob_photo}/like")
        button = likes.get_by_role("button", name="Like", exact=True)
        await button.click()
        await expect(mallory.locator("[data-toast]")).to_contain_text(LOCKED_MESSAGE)
        await expect(likes).not_to_have_attribute("aria-busy", "true")
        await expect(count).to_have_text("0")
        await expect(button).to_have_attribute("aria-pressed", "false")
        await expect(likes).not_to_have_class(re.compile(r"\bis-liked\b"))
        await mallory.reload()
        await expect(count).to_have_text("0")

        # Her profile: the administrator sees the lock and why, Bob does not.
        await admin.goto(f"/u/{MALLORY}")
        panel = admin.locator("[data-profile-moderation]")
        await expect(panel.locator(".badge", has_text="locked")).to_be_visible()
        await expect(panel.locator("[data-profile-locked]")).to_contain_text(
            "This account is locked since"
        )
        await expect(panel.locator("[data-profile-locked]")).to_contain_text(LOCK_REASON)
        await expect(panel.get_by_role("button", name=f"Unlock {MALLORY}")).to_be_visible()

        await bob.goto(f"/u/{MALLORY}")
        await expect(bob.get_by_role("heading", name=MALLORY, exact=True)).to_be_visible()
        await expect(bob.locator("[data-profile-moderation]")).to_have_count(0)
        await expect(bob.locator("[data-profile-locked]")).to_have_count(0)
        await expect(bob.locator("main")).not_to_contain_text("locked")
        await expect(bob.locator("main")).not_to_contain_text(LOCK_REASON)
        await expect(bob.locator("[data-locked-banner]")).to_have_count(0)
    finally:
        for context in contexts:
            await context.close()
    for collected in errors:
        collected.assert_none()

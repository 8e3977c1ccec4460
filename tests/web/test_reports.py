"""Reporting images and comments without JavaScript (``web/reports.py``): the pages, the
links to them, and the limits the pages share with the API."""

from __future__ import annotations

import html
import re

from quart import Quart
from sqlalchemy import func, select

from gallery.infra.runtime import Runtime
from gallery.models import Comment
from gallery.services.permissions import LOCKED_MESSAGE
from gallery.web.rate_limits import RATE_LIMITS
from gallery.web.reports import THANKS
from tests.helpers import (
    add_image_with_comments,
    fetch_reports,
    json_error_of,
    lock_account_row,
    make_active_user,
    page_text,
    post_form,
    report_via_api,
    sign_in,
    signed_in,
    user_id_of,
)
from tests.images import add_comment_rows

REPORTS_PER_HOUR = RATE_LIMITS["reports"].limit

# -- the pages -----------------------------------------------------------------


async def test_the_report_pages_show_what_is_reported(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    bob, _ = await signed_in(app, runtime, "bob")

    body = await page_text(bob, f"/images/{image_id}/report")
    assert "Report a photo" in body
    assert re.search(r'<img class="rounded" src="[^"]+_thumb\.jpg(\?[^"]*)?"', body)
    assert ">alice</a>" in body
    assert 'name="csrf_token"' in body and 'name="preset"' in body
    assert re.search(r'<textarea[^>]+name="reason"[^>]+maxlength="\d+"', body)
    assert f'href="/images/{image_id}">Cancel</a>' in body

    body = await page_text(bob, f"/comments/{comment_id}/report")
    assert "Report a comment" in body
    assert "comment 0</blockquote>" in body  # the comment's text
    assert ">alice</a>" in body
    assert f'href="/images/{image_id}#comment-{comment_id}">Cancel</a>' in body

    assert (await bob.get("/images/424242/report")).status_code == 404
    assert (await bob.get("/comments/424242/report")).status_code == 404


async def test_reporting_without_javascript(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    bob, _ = await signed_in(app, runtime, "bob")

    response = await post_form(bob, f"/images/{image_id}/report", {"preset": "Spam or advertising"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/images/{image_id}"
    assert THANKS in await page_text(bob, f"/images/{image_id}")

    response = await post_form(
        bob,
        f"/comments/{comment_id}/report",
        {"preset": "Harassment or hate", "reason": " Calls people names "},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/images/{image_id}#comment-{comment_id}"

    response = await post_form(bob, f"/images/{image_id}/report", {"reason": "Once more"})
    assert response.status_code == 303  # the open report: said so, back to the image
    assert response.headers["Location"] == f"/images/{image_id}"
    assert "already reported this photo" in await page_text(bob, f"/images/{image_id}")

    rows = await fetch_reports(runtime)
    assert [r.reason for r in rows] == [
        "Spam or advertising",
        "Harassment or hate: Calls people names",
    ]


async def test_a_refused_report_page_keeps_the_text(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    bob, _ = await signed_in(app, runtime, "bob")

    empty = await post_form(bob, f"/comments/{comment_id}/report", {"reason": "  "})
    assert empty.status_code == 400
    assert "Say what is wrong" in html.unescape(await empty.get_data(as_text=True))

    long_text = "<b>too long</b> " * 40
    response = await post_form(
        bob, f"/images/{image_id}/report", {"preset": "Violence or gore", "reason": long_text}
    )
    assert response.status_code == 400
    body = await response.get_data(as_text=True)
    assert "too long" in body
    assert "&lt;b&gt;too long&lt;/b&gt;" in body and "<b>too long" not in body  # escaped, kept
    assert re.search(r'value="Violence or gore"\s+checked', body)

    made_up = await post_form(bob, f"/images/{image_id}/report", {"preset": "I dislike it"})
    assert made_up.status_code == 400
    assert await fetch_reports(runtime) == []


async def test_own_content_has_no_report_form(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    image_id, (comment_id,) = await add_image_with_comments(runtime, "alice")
    for path in (f"/images/{image_id}/report", f"/comments/{comment_id}/report"):
        body = await page_text(alice, path)
        assert "you cannot report it" in body
        assert "data-report-form" not in body
        refused = await post_form(alice, path, {"reason": "Oops"})
        assert refused.status_code == 400
    assert await fetch_reports(runtime) == []


async def test_signing_in_from_a_report_link_comes_back_to_the_form(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    await make_active_user(runtime, "bob", "bob@example.com")
    client = app.test_client()

    response = await client.get(f"/images/{image_id}/report")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next=/images/{image_id}/report"
    response = await client.get(f"/comments/{comment_id}/report")
    assert response.headers["Location"] == f"/login?next=/comments/{comment_id}/report"

    signed = await sign_in(client, "bob", next_url=f"/images/{image_id}/report")
    assert signed.status_code == 302
    assert signed.headers["Location"] == f"/images/{image_id}/report"
    assert "Report a photo" in await page_text(client, f"/images/{image_id}/report")


async def test_the_image_page_links_to_the_report_pages(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, (alice_comment,) = await add_image_with_comments(runtime)
    bob, _ = await signed_in(app, runtime, "bob")
    await add_comment_rows(runtime, image_id, await user_id_of(runtime, "bob"), 1)
    async with runtime.db.session() as session:
        bob_comment = await session.scalar(select(func.max(Comment.id)))
    image_link = f'href="/images/{image_id}/report"'
    alice_link = f'href="/comments/{alice_comment}/report"'
    bob_link = f'href="/comments/{bob_comment}/report"'

    # Signed out: everything (the links lead through sign-in).
    body = await page_text(app.test_client(), f"/images/{image_id}")
    assert image_link in body and alice_link in body and bob_link in body
    assert 'data-report-url="/comments/{id}/report"' in body  # for comments.js

    # Bob: the photo and alice's comment, not his own comment.
    body = await page_text(bob, f"/images/{image_id}")
    assert image_link in body and alice_link in body and bob_link not in body

    # Alice: only bob's comment.
    alice = app.test_client()
    await sign_in(alice, "alice")
    body = await page_text(alice, f"/images/{image_id}")
    assert image_link not in body and alice_link not in body and bob_link in body


# -- what the pages share with the API -----------------------------------------


async def test_a_locked_account_cannot_report(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    bob, token = await signed_in(app, runtime, "bob")
    await lock_account_row(runtime, "bob")

    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        response = await report_via_api(bob, token, path, "Spam")
        assert response.status_code == 403
        assert (await json_error_of(response))["message"] == LOCKED_MESSAGE

    # The pages: the lock is flashed on the page the form was on, not an error page.
    page = f"/images/{image_id}/report"
    refused = await post_form(bob, page, {"reason": "Spam", "next": f"/images/{image_id}"})
    assert refused.status_code == 303
    assert refused.headers["Location"] == f"/images/{image_id}"
    assert LOCKED_MESSAGE in await page_text(bob, f"/images/{image_id}")

    opened = await bob.get(f"/comments/{comment_id}/report")
    assert opened.status_code == 303
    assert opened.headers["Location"] == "/"
    assert LOCKED_MESSAGE in await page_text(bob, "/")
    assert await fetch_reports(runtime) == []


async def test_reports_are_rate_limited_per_user(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, _ = await add_image_with_comments(runtime)
    bob, token = await signed_in(app, runtime, "bob")
    path = f"/api/v1/images/{image_id}/report"
    statuses = [
        (await report_via_api(bob, token, path, "Spam")).status_code
        for _ in range(REPORTS_PER_HOUR)
    ]
    assert statuses == [201] + [409] * (REPORTS_PER_HOUR - 1)
    limited = await report_via_api(bob, token, path, "Spam")
    assert limited.status_code == 429
    assert (await json_error_of(limited))["code"] == "RATE_LIMITED"
    assert "Retry-After" in limited.headers

    # The page counts against the same limit; it keeps what was typed.
    page = await post_form(bob, f"/images/{image_id}/report", {"reason": "Keep me"})
    assert page.status_code == 429
    body = html.unescape(await page.get_data(as_text=True))
    assert "Too many reports" in body and ">Keep me</textarea>" in body

    # Someone else is not affected.
    carol, carol_token = await signed_in(app, runtime, "carol")
    assert (await report_via_api(carol, carol_token, path, "Spam")).status_code == 201

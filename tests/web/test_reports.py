"""Reporting images and comments: the JSON API, the no-JavaScript pages, the links to them."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select, update

from gallery.infra.db import utcnow
from gallery.infra.runtime import Runtime
from gallery.models import Comment, Role, User
from gallery.models.moderation import Report
from gallery.services import reports
from gallery.services.permissions import LOCKED_MESSAGE
from gallery.services.reports import ReportTarget
from gallery.web.api.reports import REPORTS_PER_HOUR
from gallery.web.reports import THANKS
from tests.helpers import csrf_token, make_active_user, sign_in, signed_in
from tests.images import add_comment_rows, add_image_rows

REPORT_KEYS = {"id", "target", "target_id", "reason", "created_at"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# -- helpers -------------------------------------------------------------------


async def user_id(runtime: Runtime, username: str) -> int:
    async with runtime.db.session() as session:
        found = await session.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


async def photo_with_comment(runtime: Runtime, author: str = "alice") -> tuple[int, int]:
    """An image by ``author`` with one comment of theirs on it: (image id, comment id)."""
    author_id = await user_id(runtime, author)
    (image_id,) = await add_image_rows(runtime, author_id, 1)
    await add_comment_rows(runtime, image_id, author_id, 1)
    async with runtime.db.session() as session:
        comment_id = await session.scalar(select(Comment.id).where(Comment.image_id == image_id))
        assert comment_id is not None
        return image_id, comment_id


async def report_rows(runtime: Runtime) -> list[Report]:
    async with runtime.db.session() as session:
        return list((await session.scalars(select(Report).order_by(Report.id))).all())


async def api_report(client: Client, token: str | None, path: str, reason: Any) -> Any:
    headers = {"X-CSRF-Token": token} if token else {}
    return await client.post(path, json={"reason": reason}, headers=headers)


async def error_of(response: Any) -> dict[str, str]:
    body = await response.get_json()
    assert set(body) == {"error"}
    return body["error"]


async def page_text(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, path
    return html.unescape(await response.get_data(as_text=True))


async def post_page(client: Client, path: str, data: dict[str, str]) -> Any:
    return await client.post(path, form={"csrf_token": await csrf_token(client), **data})


async def lock(runtime: Runtime, username: str) -> None:
    async with runtime.db.session() as session:
        await session.execute(
            update(User).where(User.username == username).values(locked_at=utcnow())
        )
        await session.commit()


async def make_moderator(runtime: Runtime, username: str) -> User:
    await make_active_user(runtime, username, f"{username}@example.com")
    async with runtime.db.session() as session:
        moderator = await session.scalar(select(User).where(User.username == username))
        assert moderator is not None
        moderator.permissions = int(Role.MODERATOR)
        await session.commit()
        return moderator


# -- the JSON API ----------------------------------------------------------------


async def test_reporting_an_image_and_a_comment_returns_201_with_the_report(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    image_id, comment_id = await photo_with_comment(runtime)
    bob, token = await signed_in(app, runtime, "bob")

    response = await api_report(bob, token, f"/api/v1/images/{image_id}/report", "  Spam  ")
    assert response.status_code == 201
    body = await response.get_json()
    assert set(body) == REPORT_KEYS
    assert (body["target"], body["target_id"], body["reason"]) == ("image", image_id, "Spam")
    assert ISO_UTC.match(body["created_at"])

    response = await api_report(bob, token, f"/api/v1/comments/{comment_id}/report", "Rude")
    assert response.status_code == 201
    body = await response.get_json()
    assert set(body) == REPORT_KEYS
    assert (body["target"], body["target_id"], body["reason"]) == ("comment", comment_id, "Rude")

    rows = await report_rows(runtime)
    assert [(r.image_id, r.comment_id, r.reason) for r in rows] == [
        (image_id, None, "Spam"),
        (None, comment_id, "Rude"),
    ]
    assert {r.reporter_id for r in rows} == {await user_id(runtime, "bob")}


async def test_the_report_routes_are_documented(app: Quart) -> None:
    document = await (await app.test_client().get("/openapi.json")).get_json()
    for path in ("/api/v1/images/{image_id}/report", "/api/v1/comments/{comment_id}/report"):
        operation = document["paths"][path]["post"]
        assert operation["tags"] == ["reports"]
        assert "201" in operation["responses"]


async def test_a_report_needs_a_reason_of_at_most_500_characters(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    image_id, comment_id = await photo_with_comment(runtime)
    bob, token = await signed_in(app, runtime, "bob")
    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        for reason in ("", "   \n ", "x" * 1000):
            response = await api_report(bob, token, path, reason)
            assert response.status_code == 400, (path, reason[:5])
            error = await error_of(response)
            assert error["code"] == "BAD_REQUEST"
            assert "reason" in error["message"].lower() or "say what" in error["message"].lower()
        missing = await bob.post(path, json={}, headers={"X-CSRF-Token": token})
        assert missing.status_code == 400
        assert (await error_of(missing))["code"] == "BAD_REQUEST"
    assert await report_rows(runtime) == []


async def test_nobody_reports_their_own_content(app: Quart, runtime: Runtime) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    image_id, comment_id = await photo_with_comment(runtime, "alice")
    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        response = await api_report(alice, token, path, "Oops")
        assert response.status_code == 400
        assert "your own" in (await error_of(response))["message"]
    assert await report_rows(runtime) == []


async def test_reporting_what_is_not_there_is_404(app: Quart, runtime: Runtime) -> None:
    bob, token = await signed_in(app, runtime, "bob")
    for path in ("/api/v1/images/424242/report", "/api/v1/comments/424242/report"):
        response = await api_report(bob, token, path, "Spam")
        assert response.status_code == 404
        assert (await error_of(response))["code"] == "NOT_FOUND"


async def test_a_second_open_report_is_409_until_a_moderator_dismisses_the_first(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    image_id, comment_id = await photo_with_comment(runtime)
    moderator = await make_moderator(runtime, "mona")
    bob, token = await signed_in(app, runtime, "bob")
    targets = [
        (f"/api/v1/images/{image_id}/report", ReportTarget.IMAGE, image_id),
        (f"/api/v1/comments/{comment_id}/report", ReportTarget.COMMENT, comment_id),
    ]
    for path, kind, target_id in targets:
        assert (await api_report(bob, token, path, "Spam")).status_code == 201
        again = await api_report(bob, token, path, "Still spam")
        assert again.status_code == 409
        error = await error_of(again)
        assert error["code"] == "CONFLICT"
        assert "already reported" in error["message"]

        async with runtime.db.session() as session:
            mona = await session.get_one(User, moderator.id)
            assert await reports.dismiss(session, actor=mona, kind=kind, target_id=target_id) == 1
        assert (await api_report(bob, token, path, "Back again")).status_code == 201
    assert len(await report_rows(runtime)) == 4


async def test_signed_out_reports_are_401_and_reports_without_csrf_403(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    image_id, comment_id = await photo_with_comment(runtime)
    anonymous = app.test_client()
    anonymous_token = await csrf_token(anonymous)  # so the request gets past the CSRF check
    bob, _ = await signed_in(app, runtime, "bob")
    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        response = await api_report(anonymous, anonymous_token, path, "Spam")
        assert response.status_code == 401
        assert (await error_of(response))["code"] == "UNAUTHORIZED"
        assert "Location" not in response.headers

        response = await api_report(bob, None, path, "Spam")
        assert response.status_code == 403
        assert (await error_of(response))["code"] == "CSRF_FAILED"
    assert await report_rows(runtime) == []


async def test_a_locked_account_cannot_report(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, comment_id = await photo_with_comment(runtime)
    bob, token = await signed_in(app, runtime, "bob")
    await lock(runtime, "bob")

    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        response = await api_report(bob, token, path, "Spam")
        assert response.status_code == 403
        assert (await error_of(response))["message"] == LOCKED_MESSAGE

    # The pages: the lock is flashed on the page the form was on, not an error page.
    page = f"/images/{image_id}/report"
    refused = await post_page(bob, page, {"reason": "Spam", "next": f"/images/{image_id}"})
    assert refused.status_code == 303
    assert refused.headers["Location"] == f"/images/{image_id}"
    assert LOCKED_MESSAGE in await page_text(bob, f"/images/{image_id}")

    opened = await bob.get(f"/comments/{comment_id}/report")
    assert opened.status_code == 303
    assert opened.headers["Location"] == "/"
    assert LOCKED_MESSAGE in await page_text(bob, "/")
    assert await report_rows(runtime) == []


async def test_two_reports_at_once_leave_one_row(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, comment_id = await photo_with_comment(runtime)
    bob, token = await signed_in(app, runtime, "bob")
    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        first, second = await asyncio.gather(
            api_report(bob, token, path, "Spam from tab one"),
            api_report(bob, token, path, "Spam from tab two"),
        )
        assert sorted([first.status_code, second.status_code]) == [201, 409]
    rows = await report_rows(runtime)
    assert [(r.image_id, r.comment_id) for r in rows] == [(image_id, None), (None, comment_id)]


async def test_reports_are_rate_limited_per_user(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, _ = await photo_with_comment(runtime)
    bob, token = await signed_in(app, runtime, "bob")
    path = f"/api/v1/images/{image_id}/report"
    statuses = [
        (await api_report(bob, token, path, "Spam")).status_code for _ in range(REPORTS_PER_HOUR)
    ]
    assert statuses == [201] + [409] * (REPORTS_PER_HOUR - 1)
    limited = await api_report(bob, token, path, "Spam")
    assert limited.status_code == 429
    assert (await error_of(limited))["code"] == "RATE_LIMITED"
    assert "Retry-After" in limited.headers

    # The page counts against the same limit; it keeps what was typed.
    page = await post_page(bob, f"/images/{image_id}/report", {"reason": "Keep me"})
    assert page.status_code == 429
    body = html.unescape(await page.get_data(as_text=True))
    assert "Too many reports" in body and ">Keep me</textarea>" in body

    # Someone else is not affected.
    carol, carol_token = await signed_in(app, runtime, "carol")
    assert (await api_report(carol, carol_token, path, "Spam")).status_code == 201


# -- the pages -------------------------------------------------------------------


async def test_the_report_pages_show_what_is_reported(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, comment_id = await photo_with_comment(runtime)
    bob, _ = await signed_in(app, runtime, "bob")

    body = await page_text(bob, f"/images/{image_id}/report")
    assert "Report a photo" in body
    assert re.search(r'<img class="rounded" src="/media/[^"]+_thumb\.jpg"', body)
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
    image_id, comment_id = await photo_with_comment(runtime)
    bob, _ = await signed_in(app, runtime, "bob")

    response = await post_page(bob, f"/images/{image_id}/report", {"preset": "Spam or advertising"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/images/{image_id}"
    assert THANKS in await page_text(bob, f"/images/{image_id}")

    response = await post_page(
        bob,
        f"/comments/{comment_id}/report",
        {"preset": "Harassment or hate", "reason": " Calls people names "},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/images/{image_id}#comment-{comment_id}"

    response = await post_page(bob, f"/images/{image_id}/report", {"reason": "Once more"})
    assert response.status_code == 303  # the open report: said so, back to the image
    assert response.headers["Location"] == f"/images/{image_id}"
    assert "already reported this photo" in await page_text(bob, f"/images/{image_id}")

    rows = await report_rows(runtime)
    assert [r.reason for r in rows] == [
        "Spam or advertising",
        "Harassment or hate: Calls people names",
    ]


async def test_a_refused_report_page_keeps_the_text(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, comment_id = await photo_with_comment(runtime)
    bob, _ = await signed_in(app, runtime, "bob")

    empty = await post_page(bob, f"/comments/{comment_id}/report", {"reason": "  "})
    assert empty.status_code == 400
    assert "Say what is wrong" in html.unescape(await empty.get_data(as_text=True))

    long_text = "<b>too long</b> " * 40
    response = await post_page(
        bob, f"/images/{image_id}/report", {"preset": "Violence or gore", "reason": long_text}
    )
    assert response.status_code == 400
    body = await response.get_data(as_text=True)
    assert "too long" in body
    assert "&lt;b&gt;too long&lt;/b&gt;" in body and "<b>too long" not in body  # escaped, kept
    assert re.search(r'value="Violence or gore"\s+checked', body)

    made_up = await post_page(bob, f"/images/{image_id}/report", {"preset": "I dislike it"})
    assert made_up.status_code == 400
    assert await report_rows(runtime) == []


async def test_own_content_has_no_report_form(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    image_id, comment_id = await photo_with_comment(runtime, "alice")
    for path in (f"/images/{image_id}/report", f"/comments/{comment_id}/report"):
        body = await page_text(alice, path)
        assert "you cannot report it" in body
        assert "data-report-form" not in body
        refused = await post_page(alice, path, {"reason": "Oops"})
        assert refused.status_code == 400
    assert await report_rows(runtime) == []


async def test_signing_in_from_a_report_link_comes_back_to_the_form(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    image_id, comment_id = await photo_with_comment(runtime)
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
    image_id, alice_comment = await photo_with_comment(runtime)
    bob, _ = await signed_in(app, runtime, "bob")
    await add_comment_rows(runtime, image_id, await user_id(runtime, "bob"), 1)
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

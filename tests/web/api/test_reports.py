"""Reporting images and comments through the JSON API (``web/api/reports.py``)."""

from __future__ import annotations

import asyncio
import re

from quart import Quart

from gallery.infra.runtime import Runtime
from gallery.models import Role, User
from gallery.services import reports
from gallery.services.reports import ReportTarget
from tests.helpers import (
    add_image_with_comments,
    csrf_token,
    fetch_reports,
    json_error_of,
    make_active_user,
    report_via_api,
    set_permissions,
    signed_in,
    user_id_of,
)

REPORT_KEYS = {"id", "target", "target_id", "reason", "created_at"}


ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_reporting_an_image_and_a_comment_returns_201_with_the_report(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    bob, token = await signed_in(app, runtime, "bob")

    response = await report_via_api(bob, token, f"/api/v1/images/{image_id}/report", "  Spam  ")
    assert response.status_code == 201
    body = await response.get_json()
    assert set(body) == REPORT_KEYS
    assert (body["target"], body["target_id"], body["reason"]) == ("image", image_id, "Spam")
    assert ISO_UTC.match(body["created_at"])

    response = await report_via_api(bob, token, f"/api/v1/comments/{comment_id}/report", "Rude")
    assert response.status_code == 201
    body = await response.get_json()
    assert set(body) == REPORT_KEYS
    assert (body["target"], body["target_id"], body["reason"]) == ("comment", comment_id, "Rude")

    rows = await fetch_reports(runtime)
    assert [(r.image_id, r.comment_id, r.reason) for r in rows] == [
        (image_id, None, "Spam"),
        (None, comment_id, "Rude"),
    ]
    assert {r.reporter_id for r in rows} == {await user_id_of(runtime, "bob")}


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
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    bob, token = await signed_in(app, runtime, "bob")
    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        for reason in ("", "   \n ", "x" * 1000):
            response = await report_via_api(bob, token, path, reason)
            assert response.status_code == 400, (path, reason[:5])
            error = await json_error_of(response)
            assert error["code"] == "BAD_REQUEST"
            assert "reason" in error["message"].lower() or "say what" in error["message"].lower()
        missing = await bob.post(path, json={}, headers={"X-CSRF-Token": token})
        assert missing.status_code == 400
        assert (await json_error_of(missing))["code"] == "BAD_REQUEST"
    assert await fetch_reports(runtime) == []


async def test_nobody_reports_their_own_content(app: Quart, runtime: Runtime) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    image_id, (comment_id,) = await add_image_with_comments(runtime, "alice")
    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        response = await report_via_api(alice, token, path, "Oops")
        assert response.status_code == 400
        assert "your own" in (await json_error_of(response))["message"]
    assert await fetch_reports(runtime) == []


async def test_reporting_what_is_not_there_is_404(app: Quart, runtime: Runtime) -> None:
    bob, token = await signed_in(app, runtime, "bob")
    for path in ("/api/v1/images/424242/report", "/api/v1/comments/424242/report"):
        response = await report_via_api(bob, token, path, "Spam")
        assert response.status_code == 404
        assert (await json_error_of(response))["code"] == "NOT_FOUND"


async def test_a_second_open_report_is_409_until_a_moderator_dismisses_the_first(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    moderator_id = await make_active_user(runtime, "mona", "mona@example.com")
    await set_permissions(runtime, "mona", Role.MODERATOR)
    bob, token = await signed_in(app, runtime, "bob")
    targets = [
        (f"/api/v1/images/{image_id}/report", ReportTarget.IMAGE, image_id),
        (f"/api/v1/comments/{comment_id}/report", ReportTarget.COMMENT, comment_id),
    ]
    for path, kind, target_id in targets:
        assert (await report_via_api(bob, token, path, "Spam")).status_code == 201
        again = await report_via_api(bob, token, path, "Still spam")
        assert again.status_code == 409
        error = await json_error_of(again)
        assert error["code"] == "CONFLICT"
        assert "already reported" in error["message"]

        async with runtime.db.session() as session:
            mona = await session.get_one(User, moderator_id)
            assert await reports.dismiss(session, actor=mona, kind=kind, target_id=target_id) == 1
        assert (await report_via_api(bob, token, path, "Back again")).status_code == 201
    assert len(await fetch_reports(runtime)) == 4


async def test_signed_out_reports_are_401_and_reports_without_csrf_403(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    anonymous = app.test_client()
    anonymous_token = await csrf_token(anonymous)  # so the request gets past the CSRF check
    bob, _ = await signed_in(app, runtime, "bob")
    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        response = await report_via_api(anonymous, anonymous_token, path, "Spam")
        assert response.status_code == 401
        assert (await json_error_of(response))["code"] == "UNAUTHORIZED"
        assert "Location" not in response.headers

        response = await report_via_api(bob, None, path, "Spam")
        assert response.status_code == 403
        assert (await json_error_of(response))["code"] == "CSRF_FAILED"
    assert await fetch_reports(runtime) == []


async def test_two_reports_at_once_leave_one_row(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id, (comment_id,) = await add_image_with_comments(runtime)
    bob, token = await signed_in(app, runtime, "bob")
    for path in (f"/api/v1/images/{image_id}/report", f"/api/v1/comments/{comment_id}/report"):
        first, second = await asyncio.gather(
            report_via_api(bob, token, path, "Spam from tab one"),
            report_via_api(bob, token, path, "Spam from tab two"),
        )
        assert sorted([first.status_code, second.status_code]) == [201, 409]
    rows = await fetch_reports(runtime)
    assert [(r.image_id, r.comment_id) for r in rows] == [(image_id, None), (None, comment_id)]

"""Kinds of notice turned off are not made at all (``services/notifications.py``)."""

from __future__ import annotations

from quart import Quart
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import Notification
from tests.helpers import (
    csrf_header,
    follow_redirect,
    page_html,
    post_form,
    signed_in,
    unread_count_of,
    user_id_of,
)
from tests.images import api_upload


async def test_a_kind_turned_off_is_not_made_and_the_others_still_are(
    app: Quart, runtime: Runtime
) -> None:
    alice, alice_token = await signed_in(app, runtime, "alice")
    bob, bob_token = await signed_in(app, runtime, "bob")
    image_id = (await (await api_upload(alice, alice_token)).get_json())["id"]
    page = await page_html(alice, "/settings/notifications")
    assert page.count(" checked") == 5  # every kind on at first

    # The page's form: everything but likes stays on.
    on = ["comment", "follow", "follow_request", "follow_accepted"]
    saved = await post_form(alice, "/settings/notifications", {"on": on[0]})
    await follow_redirect(alice, saved)
    response = await alice.put(
        "/api/v1/me/notification-settings",
        json={"follow": True, "follow_request": True, "follow_accepted": True},
        headers=csrf_header(alice_token),
    )
    assert await response.get_json() == {
        "like": False,
        "comment": True,
        "follow": True,
        "follow_request": True,
        "follow_accepted": True,
    }

    assert (
        await bob.put(f"/api/v1/images/{image_id}/like", headers=csrf_header(bob_token))
    ).status_code == 200
    await bob.post(
        f"/api/v1/images/{image_id}/comments",
        json={"content": "Nice"},
        headers=csrf_header(bob_token),
    )
    await bob.put("/api/v1/users/alice/follow", headers=csrf_header(bob_token))
    alice_id = await user_id_of(runtime, "alice")
    kinds = {notice.kind for notice in await notices_of(runtime, alice_id)}
    assert kinds == {"comment", "follow"}
    assert await unread_count_of(runtime, alice_id) == 2

    bad = await alice.put(
        "/api/v1/me/notification-settings", json={"like": "yes"}, headers=csrf_header(alice_token)
    )
    assert bad.status_code == 400
    unknown = await post_form(alice, "/settings/notifications", {"on": "gossip"})
    assert unknown.status_code == 400


async def notices_of(runtime: Runtime, recipient_id: int) -> list[Notification]:
    async with runtime.db.session() as session:
        return list(
            await session.scalars(
                select(Notification).where(Notification.recipient_id == recipient_id)
            )
        )

"""Turning comments on an image off and on: the API's PATCH, the page's button, the refusals."""

from __future__ import annotations

import html
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from gallery.infra.runtime import Runtime
from gallery.models import Comment, Role, User
from gallery.models.moderation import ModerationAction, ModerationEntry
from gallery.services.comments import COMMENTS_OFF_MESSAGE
from tests.helpers import csrf_token, make_active_user, signed_in
from tests.images import add_comment_rows, add_image_rows
from tests.web.test_images_api import IMAGE_KEYS


async def user_id(runtime: Runtime, username: str) -> int:
    async with runtime.db.session() as session:
        found = await session.scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


async def owned_image(runtime: Runtime, username: str = "alice", comments: int = 1) -> int:
    author_id = await user_id(runtime, username)
    (image_id,) = await add_image_rows(runtime, author_id, 1)
    await add_comment_rows(runtime, image_id, author_id, comments)
    return image_id


async def patch(client: Client, token: str | None, image_id: int, body: Any) -> Any:
    headers = {"X-CSRF-Token": token} if token else {}
    return await client.patch(f"/api/v1/images/{image_id}", json=body, headers=headers)


async def api_comment(client: Client, token: str, image_id: int, content: str) -> Any:
    return await client.post(
        f"/api/v1/images/{image_id}/comments",
        json={"content": content},
        headers={"X-CSRF-Token": token},
    )


async def post_page(client: Client, path: str, data: dict[str, str] | None = None) -> Any:
    return await client.post(path, form={"csrf_token": await csrf_token(client), **(data or {})})


async def page_text(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, path
    return html.unescape(await response.get_data(as_text=True))


async def comment_count(runtime: Runtime, image_id: int) -> int:
    async with runtime.db.session() as session:
        query = select(func.count()).select_from(Comment).where(Comment.image_id == image_id)
        return int(await session.scalar(query) or 0)


async def test_the_owner_turns_comments_off_with_patch(app: Quart, runtime: Runtime) -> None:
    alice, alice_token = await signed_in(app, runtime, "alice")
    image_id = await owned_image(runtime)
    bob, bob_token = await signed_in(app, runtime, "bob")

    response = await patch(alice, alice_token, image_id, {"comments_enabled": False})
    assert response.status_code == 200
    body = await response.get_json()
    assert set(body) == IMAGE_KEYS
    assert (body["id"], body["comments_enabled"]) == (image_id, False)
    assert len(body["comments"]) == 1  # the comment already there stays

    refused = await api_comment(bob, bob_token, image_id, "Hello?")
    assert refused.status_code == 403
    assert (await refused.get_json())["error"] == {
        "code": "FORBIDDEN",
        "message": COMMENTS_OFF_MESSAGE,
    }
    # The owner too: nobody comments while it is off.
    assert (await api_comment(alice, alice_token, image_id, "Me?")).status_code == 403

    # The page's form, without JavaScript: flashed, back at the comments.
    response = await post_page(bob, f"/images/{image_id}/comments", {"content": "Hello?"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/images/{image_id}#comments"
    assert COMMENTS_OFF_MESSAGE in await page_text(bob, f"/images/{image_id}")
    assert await comment_count(runtime, image_id) == 1

    # Back on: comments go through again.
    response = await patch(alice, alice_token, image_id, {"comments_enabled": True})
    assert (await response.get_json())["comments_enabled"] is True
    assert (await api_comment(bob, bob_token, image_id, "Hello!")).status_code == 201
    assert await comment_count(runtime, image_id) == 2


async def test_the_owner_switches_comments_with_the_page_button(
    app: Quart, runtime: Runtime
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    image_id = await owned_image(runtime)
    bob, bob_token = await signed_in(app, runtime, "bob")

    body = await page_text(alice, f"/images/{image_id}")
    assert f'action="/images/{image_id}/comments/disable"' in body
    assert "Turn comments off" in body
    assert 'id="comment-form"' in body and 'data-comments-enabled="true"' in body

    response = await post_page(alice, f"/images/{image_id}/comments/disable")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/images/{image_id}#comments"

    body = await page_text(alice, f"/images/{image_id}")
    assert "Comments are turned off for this photo; the ones already there stay." in body  # flash
    assert f'action="/images/{image_id}/comments/enable"' in body and "Turn comments on" in body
    assert 'id="comment-form"' not in body
    assert f'<p class="comment-signin" data-comments-off>{COMMENTS_OFF_MESSAGE}</p>' in body
    assert 'data-comments-enabled="false"' in body
    assert "comment 0" in body  # the old comment is still listed
    assert (await api_comment(bob, bob_token, image_id, "Hi")).status_code == 403

    response = await post_page(alice, f"/images/{image_id}/comments/enable")
    assert response.status_code == 303
    body = await page_text(alice, f"/images/{image_id}")
    assert "Comments are on again for this photo." in body
    assert 'id="comment-form"' in body and "data-comments-off" not in body
    assert (await api_comment(bob, bob_token, image_id, "Hi")).status_code == 201


async def test_the_image_page_says_comments_are_off_to_everyone(
    app: Quart, runtime: Runtime
) -> None:
    alice, alice_token = await signed_in(app, runtime, "alice")
    image_id = await owned_image(runtime)
    bob, _ = await signed_in(app, runtime, "bob")
    await patch(alice, alice_token, image_id, {"comments_enabled": False})

    for viewer in (bob, app.test_client()):
        body = await page_text(viewer, f"/images/{image_id}")
        assert COMMENTS_OFF_MESSAGE in body and "data-comments-off" in body
        assert 'id="comment-form"' not in body and "Sign in to comment" not in body
        assert "/comments/disable" not in body and "/comments/enable" not in body  # no switch
        assert "comment 0" in body


async def test_only_the_owner_or_a_moderator_may_switch(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    image_id = await owned_image(runtime)
    bob, bob_token = await signed_in(app, runtime, "bob")

    response = await patch(bob, bob_token, image_id, {"comments_enabled": False})
    assert response.status_code == 403
    assert (await response.get_json())["error"]["message"] == (
        "Only the owner or a moderator can turn comments on or off."
    )
    page = await post_page(bob, f"/images/{image_id}/comments/disable")
    assert page.status_code == 403
    assert "Only the owner or a moderator" in html.unescape(await page.get_data(as_text=True))

    anonymous = app.test_client()
    token = await csrf_token(anonymous)
    response = await patch(anonymous, token, image_id, {"comments_enabled": False})
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "UNAUTHORIZED"
    page = await post_page(anonymous, f"/images/{image_id}/comments/disable")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=")

    assert (await patch(bob, None, image_id, {"comments_enabled": False})).status_code == 403

    # A moderator may, and it is written to the moderation log.
    mona, mona_token = await signed_in(app, runtime, "mona")
    async with runtime.db.session() as session:
        moderator = await session.get_one(User, await user_id(runtime, "mona"))
        moderator.permissions = int(Role.MODERATOR)
        await session.commit()
    response = await patch(mona, mona_token, image_id, {"comments_enabled": False})
    assert response.status_code == 200
    assert (await response.get_json())["comments_enabled"] is False
    body = await page_text(mona, f"/images/{image_id}")
    assert f'action="/images/{image_id}/comments/enable"' in body
    response = await post_page(mona, f"/images/{image_id}/comments/enable")
    assert response.status_code == 303
    async with runtime.db.session() as session:
        actions = (
            await session.scalars(select(ModerationEntry.action).order_by(ModerationEntry.id))
        ).all()
    assert actions == [ModerationAction.DISABLE_COMMENTS, ModerationAction.ENABLE_COMMENTS]


async def test_patch_refuses_bad_bodies_and_unknown_images(app: Quart, runtime: Runtime) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    image_id = await owned_image(runtime)
    for body in ({}, {"comments_enabled": "perhaps"}, {"comments_enabled": None}):
        response = await patch(alice, token, image_id, body)
        assert response.status_code == 400, body
        assert (await response.get_json())["error"]["code"] == "BAD_REQUEST"
    response = await patch(alice, token, 424242, {"comments_enabled": False})
    assert response.status_code == 404


async def test_feeds_carry_comments_enabled_and_see_the_switch(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    image_id = await owned_image(runtime)

    first = await alice.get("/api/v1/feed")
    items = (await first.get_json())["items"]
    assert [(i["id"], i["comments_enabled"]) for i in items] == [(image_id, True)]
    etag = first.headers["ETag"]

    await patch(alice, token, image_id, {"comments_enabled": False})
    # The switch changes the feed's version: a poll with the old tag gets the new body.
    polled = await alice.get("/api/v1/feed", headers={"If-None-Match": etag})
    assert polled.status_code == 200
    assert (await polled.get_json())["items"][0]["comments_enabled"] is False
    detail = await (await alice.get(f"/api/v1/images/{image_id}")).get_json()
    assert detail["comments_enabled"] is False
    seed = await (await alice.get("/index/images/1/10/")).get_json()
    assert seed["images"][0]["comments_enabled"] is False

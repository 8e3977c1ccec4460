"""Deleting an account: hidden and signed out at once, then emptied in batches
that survive a restart (``services/deletion.py``)."""

from __future__ import annotations

import time

import pyotp
from quart import Quart
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import (
    Comment,
    Follow,
    Image,
    Like,
    ModerationEntry,
    Notification,
    User,
    UsernameReservation,
)
from gallery.services import deletion
from tests.helpers import (
    administrator_client,
    count_rows,
    csrf_header,
    follow_redirect,
    page_html,
    post_form,
    register,
    sign_in,
    signed_in,
    user_id_of,
)
from tests.images import api_upload, jpeg_bytes, stored_files, upload_file
from tests.web.test_two_factor import turn_on

PASSWORD = "correct horse battery"


async def busy_account(app: Quart, runtime: Runtime) -> tuple[int, int]:
    """Alice with posts, an avatar, comments, likes and follows on Bob's post, and
    Bob's likes and comments on hers; (Alice's id, Bob's post)."""
    alice, alice_token = await signed_in(app, runtime, "alice")
    bob, bob_token = await signed_in(app, runtime, "bob")
    hers = [(await (await api_upload(alice, alice_token)).get_json())["id"] for _ in range(3)]
    avatar = await alice.put(
        "/api/v1/me/avatar",
        files={"file": upload_file(jpeg_bytes())},
        headers=csrf_header(alice_token),
    )
    assert avatar.status_code == 200
    his = (await (await api_upload(bob, bob_token)).get_json())["id"]
    for client, token, post in ((alice, alice_token, his), (bob, bob_token, hers[0])):
        await client.put(f"/api/v1/images/{post}/like", headers=csrf_header(token))
        for words in ("One", "Two"):
            await client.post(
                f"/api/v1/images/{post}/comments",
                json={"content": words},
                headers=csrf_header(token),
            )
    await alice.put("/api/v1/users/bob/follow", headers=csrf_header(alice_token))
    await bob.put("/api/v1/users/alice/follow", headers=csrf_header(bob_token))
    return await user_id_of(runtime, "alice"), his


async def image_counts(runtime: Runtime, image_id: int) -> tuple[int, int]:
    async with runtime.db.session() as session:
        image = await session.get_one(Image, image_id)
        return image.like_count, image.comment_count


async def empty(runtime: Runtime, user_id: int) -> None:
    await deletion.empty_account(
        runtime.db, runtime.storage, runtime.export_storage, runtime.redis, user_id
    )


async def test_deleting_hides_at_once_and_the_job_leaves_nothing_but_the_reserved_name(
    app: Quart, runtime: Runtime
) -> None:
    alice_id, his = await busy_account(app, runtime)
    files_before = await stored_files(runtime)
    assert await image_counts(runtime, his) == (1, 2)
    alice = app.test_client()
    await sign_in(alice, "alice")
    other_device = app.test_client()
    await sign_in(other_device, "alice")

    wrong = await post_form(alice, "/settings/delete", {"password": "nope"})
    assert wrong.status_code == 400
    deleted = await post_form(alice, "/settings/delete", {"password": PASSWORD})
    assert "Your account is deleted" in await follow_redirect(alice, deleted)

    # At once: signed out everywhere, no profile, no posts anywhere, no sign-in.
    assert (await other_device.get("/api/v1/me")).status_code == 401
    visitor = app.test_client()
    assert (await visitor.get("/u/alice")).status_code == 404
    feed = await (await visitor.get("/api/v1/feed")).get_json()
    assert {item["author"]["username"] for item in feed["items"]} == {"bob"}
    bob = app.test_client()
    await sign_in(bob, "bob")
    following = await (await bob.get("/api/v1/feed/following")).get_json()
    assert following["items"] == []
    assert (await sign_in(app.test_client(), "alice")).status_code == 400
    # Her comments on Bob's post (the only ones there) are gone from it too,
    # before the job has run.
    comments = await (await visitor.get(f"/api/v1/images/{his}/comments")).get_json()
    assert comments["items"] == []
    card = await (await visitor.get(f"/api/v1/images/{his}")).get_json()
    assert card["comments"] == []

    await empty(runtime, alice_id)
    assert await count_rows(runtime, User, User.id == alice_id) == 0
    for model, column in (
        (Image, Image.author_id),
        (Comment, Comment.author_id),
        (Like, Like.user_id),
        (Follow, Follow.follower_id),
        (Follow, Follow.followed_id),
        (Notification, Notification.actor_id),
        (Notification, Notification.recipient_id),
    ):
        assert await count_rows(runtime, model, column == alice_id) == 0, model
    # Bob's post lost her like and her comments from its counts; his own stay.
    assert await image_counts(runtime, his) == (0, 0)
    # Her photos' files are gone; Bob's stay.
    left = await stored_files(runtime)
    assert set(left) < set(files_before) and left
    # The name stays reserved (pointing nowhere now), so nobody can pose as her.
    assert await count_rows(runtime, UsernameReservation) == 1
    taken = await register(app.test_client(), "alice", "new@example.com")
    assert taken.status_code == 400
    assert (await app.test_client().get("/u/alice")).status_code == 404


async def test_the_job_carries_on_after_a_restart_mid_way(app: Quart, runtime: Runtime) -> None:
    alice_id, his = await busy_account(app, runtime)
    alice = app.test_client()
    await sign_in(alice, "alice")
    await post_form(alice, "/settings/delete", {"password": PASSWORD})

    # Two batches, then the worker dies (nothing of it holds a lock any more).
    for _ in range(2):
        async with runtime.db.session() as session:
            assert await deletion.next_step(
                session, runtime.storage, runtime.export_storage, runtime.redis, alice_id
            )
    assert await count_rows(runtime, User, User.id == alice_id) == 1
    # A new worker picks the account up from what is left, and finishes.
    async with runtime.db.session() as session:
        assert await deletion.deleted_accounts(session) == [alice_id]
    await empty(runtime, alice_id)
    assert await count_rows(runtime, User, User.id == alice_id) == 0
    assert await image_counts(runtime, his) == (0, 0)
    # Running again finds nothing to do and changes nothing.
    await empty(runtime, alice_id)
    assert await image_counts(runtime, his) == (0, 0)


async def test_deleting_takes_the_second_factor_when_it_is_on(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    secret, _ = await turn_on(alice)
    page = await page_html(alice, "/settings/delete")
    assert 'name="code"' in page
    no_code = await post_form(alice, "/settings/delete", {"password": PASSWORD, "code": "000000"})
    assert no_code.status_code == 400
    assert (await alice.get("/api/v1/me")).status_code == 200
    done = await post_form(
        alice,
        "/settings/delete",
        {"password": PASSWORD, "code": pyotp.TOTP(secret).at(time.time() + 30)},
    )
    assert done.status_code == 303
    assert (await alice.get("/api/v1/me")).status_code == 401


async def test_an_administrator_deletes_an_account_and_the_log_keeps_its_words(
    app: Quart, runtime: Runtime
) -> None:
    await signed_in(app, runtime, "mallory")
    mallory_id = await user_id_of(runtime, "mallory")
    root = await administrator_client(app, runtime)
    no_reason = await post_form(root, f"/admin/users/{mallory_id}/delete", {"reason": ""})
    assert no_reason.status_code in (302, 303, 400)
    assert await count_rows(runtime, User, User.deleted_at.is_not(None)) == 0

    done = await post_form(root, f"/admin/users/{mallory_id}/delete", {"reason": "spam ring"})
    assert "The account mallory is deleted" in await follow_redirect(root, done)
    await empty(runtime, mallory_id)
    async with runtime.db.session() as session:
        (entry,) = await session.scalars(select(ModerationEntry))
    assert entry.action == "delete_account" and entry.reason == "spam ring"
    assert entry.summary.startswith("mallory (mallory@example.com)")
    assert entry.subject_id is None  # the account is gone; the words stay
    assert "Deleted an account" in await page_html(root, "/admin/log")

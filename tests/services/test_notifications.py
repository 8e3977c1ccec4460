"""Notifications (``services/notifications.py``): who is told what, never about their own
actions, withdrawn with what caused them; listing, marking read, the unread count."""

from __future__ import annotations

import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import Notification, NotificationKind, User
from gallery.services import comments, notifications
from gallery.services.errors import InvalidInput, NotFoundError
from tests.helpers import (
    add_comment,
    add_follow,
    add_like,
    add_numbered_user_rows,
    add_user_rows,
    count_rows,
    delete_comment,
    remove_follow,
    remove_like,
    unread_count_of,
)
from tests.images import add_image_rows


async def notification_kinds(runtime: Runtime, user_id: int) -> list[str]:
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        page = await notifications.list_notifications(
            session, runtime.redis, user_id=user_id, limit=100, cursor=None
        )
    return [entry.notification.kind for entry in page.entries]


async def notices_of(runtime: Runtime, recipient_id: int) -> list[Notification]:
    """The recipient's notice rows, oldest first."""
    async with runtime.db.session() as session:
        query = (
            select(Notification)
            .where(Notification.recipient_id == recipient_id)
            .order_by(Notification.id)
        )
        return list(await session.scalars(query))


# -- who is told what ----------------------------------------------------------


async def test_comments_likes_and_follows_notify_the_owner_but_never_oneself(
    runtime: Runtime,
) -> None:
    owner, fan = await add_numbered_user_rows(runtime, 2)
    (image_id,) = await add_image_rows(runtime, owner, 1)

    async with runtime.db.session() as session:
        for author in (owner, fan):
            await comments.add_comment(
                session,
                runtime.redis,
                image_id=image_id,
                author=await session.get_one(User, author),
                content="hello",
            )
    await add_like(runtime, owner, image_id)  # one's own like: no notice
    await add_like(runtime, fan, image_id)
    await add_follow(runtime, fan, "fan0")

    assert await notification_kinds(runtime, owner) == ["follow", "like", "comment"]
    assert await notification_kinds(runtime, fan) == []
    assert await unread_count_of(runtime, owner) == 3

    async with runtime.db.session() as session:
        page = await notifications.list_notifications(
            session, runtime.redis, user_id=owner, limit=10, cursor=None
        )
    follow_notice, like_notice, comment_notice = page.entries
    assert follow_notice.image is None and follow_notice.notification.actor.username == "fan1"
    assert like_notice.image is not None and like_notice.image.id == image_id
    assert comment_notice.comment is not None and comment_notice.comment.content == "hello"


async def test_a_like_then_an_unlike_leaves_no_notice(runtime: Runtime) -> None:
    owner, fan = await add_numbered_user_rows(runtime, 2)
    (image_id,) = await add_image_rows(runtime, owner, 1)

    await add_like(runtime, fan, image_id)
    assert await unread_count_of(runtime, owner) == 1
    await remove_like(runtime, fan, image_id)
    assert await notification_kinds(runtime, owner) == []
    assert await unread_count_of(runtime, owner) == 0

    # Toggling many times never piles notices up: one per standing like.
    for _ in range(3):
        await add_like(runtime, fan, image_id)
        await remove_like(runtime, fan, image_id)
    await add_like(runtime, fan, image_id)
    assert await notification_kinds(runtime, owner) == ["like"]


async def test_an_unfollow_and_a_deleted_comment_withdraw_their_notices(
    runtime: Runtime,
) -> None:
    owner, fan = await add_numbered_user_rows(runtime, 2)
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await add_follow(runtime, fan, "fan0")
    async with runtime.db.session() as session:
        comment = await comments.add_comment(
            session,
            runtime.redis,
            image_id=image_id,
            author=await session.get_one(User, fan),
            content="nice",
        )
    assert await notification_kinds(runtime, owner) == ["comment", "follow"]

    await remove_follow(runtime, fan, "fan0")
    async with runtime.db.session() as session:
        await comments.delete_comment(
            session, runtime.redis, comment_id=comment.id, actor=await session.get_one(User, fan)
        )
    assert await notification_kinds(runtime, owner) == []
    assert await unread_count_of(runtime, owner) == 0


async def test_notify_adds_to_the_callers_transaction_unless_it_is_ones_own_action(
    runtime: Runtime,
) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    async with runtime.db.session() as session:
        await notifications.notify(
            session,
            recipient_id=owner,
            actor_id=owner,
            kind=NotificationKind.LIKE,
            image_id=image_id,
        )
        await notifications.notify(
            session, recipient_id=owner, actor_id=fan, kind=NotificationKind.LIKE, image_id=image_id
        )
        await session.rollback()  # nothing is written until the caller commits
    assert await count_rows(runtime, Notification) == 0

    async with runtime.db.session() as session:
        await notifications.notify(
            session,
            recipient_id=owner,
            actor_id=owner,
            kind=NotificationKind.LIKE,
            image_id=image_id,
        )
        await notifications.notify(
            session, recipient_id=owner, actor_id=fan, kind=NotificationKind.LIKE, image_id=image_id
        )
        await session.commit()
    (notice,) = await notices_of(runtime, owner)
    assert (notice.actor_id, notice.kind, notice.image_id, notice.comment_id) == (
        fan,
        "like",
        image_id,
        None,
    )
    assert notice.read_at is None and notice.created_at is not None


async def test_each_notice_says_who_did_what_to_which_photo(runtime: Runtime) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await add_follow(runtime, fan, "owner")
    await add_like(runtime, fan, image_id)
    comment_id = await add_comment(runtime, fan, image_id, "  lovely  ")

    assert runtime.redis is not None
    async with runtime.db.session() as session:
        page = await notifications.list_notifications(
            session, runtime.redis, user_id=owner, limit=None, cursor=None
        )
    told = [
        (
            entry.notification.kind,
            entry.notification.actor.username,
            entry.image.id if entry.image else None,
            entry.comment.id if entry.comment else None,
        )
        for entry in page.entries
    ]
    assert told == [
        ("comment", "fan", image_id, comment_id),
        ("like", "fan", image_id, None),
        ("follow", "fan", None, None),
    ]
    assert page.entries[0].comment is not None and page.entries[0].comment.content == "lovely"
    assert (page.unread_count, page.next_cursor) == (3, None)


async def test_undoing_withdraws_only_the_notice_of_what_was_undone(runtime: Runtime) -> None:
    owner, fan, other = await add_user_rows(runtime, "owner", "fan", "other")
    first, second = await add_image_rows(runtime, owner, 2)
    await add_like(runtime, fan, first)
    await add_like(runtime, fan, second)
    await add_like(runtime, other, first)
    await add_follow(runtime, fan, "owner")
    await add_follow(runtime, other, "owner")
    kept_comment = await add_comment(runtime, fan, first, "kept")
    gone_comment = await add_comment(runtime, fan, first, "gone")

    await remove_like(runtime, fan, first)
    await remove_follow(runtime, fan, "owner")
    await delete_comment(runtime, fan, gone_comment)

    left = {
        (n.kind, n.actor_id, n.image_id, n.comment_id) for n in await notices_of(runtime, owner)
    }
    assert left == {
        ("like", fan, second, None),
        ("like", other, first, None),
        ("follow", other, None, None),
        ("comment", fan, first, kept_comment),
    }
    assert await unread_count_of(runtime, owner) == 4


async def test_withdraw_takes_read_notices_too(runtime: Runtime) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await add_like(runtime, fan, image_id)
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        await notifications.mark_all_read(session, runtime.redis, user_id=owner)
        await notifications.withdraw(
            session, recipient_id=owner, actor_id=fan, kind=NotificationKind.LIKE, image_id=image_id
        )
        await session.commit()
    assert await notices_of(runtime, owner) == []


# -- reading and marking read --------------------------------------------------


async def test_marking_read_one_and_all(runtime: Runtime) -> None:
    owner, first_fan, second_fan = await add_numbered_user_rows(runtime, 3)
    for fan in (first_fan, second_fan):
        await add_follow(runtime, fan, "fan0")
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        page = await notifications.list_notifications(
            session, runtime.redis, user_id=owner, limit=10, cursor=None
        )
        newest = page.entries[0].notification.id
        assert page.unread_count == 2
        assert (
            await notifications.mark_read(
                session, runtime.redis, user_id=owner, notification_id=newest
            )
            == 1
        )
        # Again is fine; someone else's notice does not exist for you.
        assert (
            await notifications.mark_read(
                session, runtime.redis, user_id=owner, notification_id=newest
            )
            == 1
        )
        with pytest.raises(NotFoundError):
            await notifications.mark_read(
                session, runtime.redis, user_id=first_fan, notification_id=newest
            )
        assert await notifications.mark_all_read(session, runtime.redis, user_id=owner) == 0
        page = await notifications.list_notifications(
            session, runtime.redis, user_id=owner, limit=10, cursor=None
        )
    assert [entry.notification.read_at is not None for entry in page.entries] == [True, True]


async def test_notifications_page_newest_first(runtime: Runtime) -> None:
    (owner,) = await add_numbered_user_rows(runtime, 1, "star")
    fans = await add_numbered_user_rows(runtime, 5)
    for fan in fans:
        await add_follow(runtime, fan, "star0")
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        first = await notifications.list_notifications(
            session, runtime.redis, user_id=owner, limit=2, cursor=None
        )
        seen = [e.notification.actor_id for e in first.entries]
        cursor = first.next_cursor
        while cursor:
            page = await notifications.list_notifications(
                session, runtime.redis, user_id=owner, limit=2, cursor=cursor
            )
            seen += [e.notification.actor_id for e in page.entries]
            cursor = page.next_cursor
    assert seen == list(reversed(fans))


async def test_the_unread_count_is_cached_until_something_changes(runtime: Runtime) -> None:
    owner, fan = await add_numbered_user_rows(runtime, 2)
    (image_id,) = await add_image_rows(runtime, owner, 1)
    assert runtime.redis is not None
    assert await unread_count_of(runtime, owner) == 0
    before = await notifications.version(runtime.redis, owner)

    await add_like(runtime, fan, image_id)
    assert await notifications.version(runtime.redis, owner) != before
    assert await unread_count_of(runtime, owner) == 1

    # A cached count is served from Redis: a row changed behind the services'
    # back is not seen until the next change moves the version.
    async with runtime.db.session() as session:
        await session.execute(Notification.__table__.delete())
        await session.commit()
    assert await unread_count_of(runtime, owner) == 1
    await notifications.bump_for(runtime.redis, owner)
    assert await unread_count_of(runtime, owner) == 0


async def test_everyone_sees_only_their_own_notices(runtime: Runtime) -> None:
    alice, bob, fan = await add_user_rows(runtime, "alice", "bob", "fan")
    (alices,) = await add_image_rows(runtime, alice, 1)
    (bobs,) = await add_image_rows(runtime, bob, 1)
    await add_like(runtime, fan, alices)
    await add_like(runtime, fan, bobs)
    await add_like(runtime, alice, bobs)

    assert runtime.redis is not None
    async with runtime.db.session() as session:
        for user_id, images in ((alice, [alices]), (bob, [bobs, bobs]), (fan, [])):
            page = await notifications.list_notifications(
                session, runtime.redis, user_id=user_id, limit=None, cursor=None
            )
            assert [entry.image.id for entry in page.entries if entry.image] == images
            assert page.unread_count == len(images)
            assert {e.notification.recipient_id for e in page.entries} <= {user_id}


async def test_listing_refuses_bad_paging(runtime: Runtime) -> None:
    (owner,) = await add_user_rows(runtime, "owner")
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        for limit, cursor in ((0, None), (101, None), (None, "not-ours")):
            with pytest.raises(InvalidInput):
                await notifications.list_notifications(
                    session, runtime.redis, user_id=owner, limit=limit, cursor=cursor
                )


async def test_marking_a_notice_that_is_not_there_is_not_found(runtime: Runtime) -> None:
    (owner,) = await add_user_rows(runtime, "owner")
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        with pytest.raises(NotFoundError):
            await notifications.mark_read(
                session, runtime.redis, user_id=owner, notification_id=999_999
            )


async def test_marking_read_moves_the_version_only_when_something_changed(
    runtime: Runtime,
) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await add_like(runtime, fan, image_id)
    redis = runtime.redis
    assert redis is not None
    (notice,) = await notices_of(runtime, owner)
    unread = await notifications.version(redis, owner)

    async with runtime.db.session() as session:
        await notifications.mark_read(session, redis, user_id=owner, notification_id=notice.id)
        read = await notifications.version(redis, owner)
        assert read != unread  # the bell and the ETags see the change

        # Nothing left to change: the version stays, polls keep their 304s.
        await notifications.mark_read(session, redis, user_id=owner, notification_id=notice.id)
        assert await notifications.mark_all_read(session, redis, user_id=owner) == 0
    assert await notifications.version(redis, owner) == read


async def test_marking_all_read_leaves_other_peoples_notices_unread(runtime: Runtime) -> None:
    alice, bob, fan = await add_user_rows(runtime, "alice", "bob", "fan")
    await add_follow(runtime, fan, "alice")
    await add_follow(runtime, fan, "bob")
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        assert await notifications.mark_all_read(session, runtime.redis, user_id=alice) == 0
    assert [n.read_at is not None for n in await notices_of(runtime, alice)] == [True]
    assert [n.read_at is not None for n in await notices_of(runtime, bob)] == [False]
    assert await unread_count_of(runtime, bob) == 1


async def test_the_unread_count_is_counted_in_the_database_when_redis_fails(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await add_like(runtime, fan, image_id)
    assert await unread_count_of(runtime, owner) == 1  # cached now
    async with runtime.db.session() as session:
        await session.execute(Notification.__table__.delete())  # behind the cache's back
        await session.commit()
    assert runtime.redis is not None

    async def redis_down(*_args: object, **_kwargs: object) -> None:
        raise RedisConnectionError("Redis is unreachable")

    monkeypatch.setattr(runtime.redis, "get", redis_down)
    with caplog.at_level(logging.ERROR, logger="gallery.services.notifications"):
        assert await unread_count_of(runtime, owner) == 0  # the database's answer
    assert "counting in the database" in caplog.text

"""Likes, follows, the following feed and notifications, at the service level."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import Comment, Follow, Image, Like, Notification, User
from gallery.services import comments, feeds, images, notifications, social
from gallery.services.errors import InvalidInput, NotFoundError, PermissionDenied
from tests.helpers import add_user_rows, count_rows, fetch_user, make_active_user
from tests.images import add_image_rows


async def quick_users(runtime: Runtime, count: int, prefix: str = "fan") -> list[int]:
    """``count`` active accounts named ``fan0``, ``fan1``… that never sign in."""
    return await add_user_rows(runtime, *(f"{prefix}{index}" for index in range(count)))


async def like(runtime: Runtime, user_id: int, image_id: int) -> social.LikeState:
    async with runtime.db.session() as session:
        return await social.like_image(
            session, runtime.redis, user=await session.get_one(User, user_id), image_id=image_id
        )


async def unlike(runtime: Runtime, user_id: int, image_id: int) -> social.LikeState:
    async with runtime.db.session() as session:
        return await social.unlike_image(
            session, runtime.redis, user=await session.get_one(User, user_id), image_id=image_id
        )


async def follow(runtime: Runtime, follower_id: int, username: str) -> social.FollowState:
    async with runtime.db.session() as session:
        return await social.follow_user(
            session,
            runtime.redis,
            follower=await session.get_one(User, follower_id),
            username=username,
        )


async def unfollow(runtime: Runtime, follower_id: int, username: str) -> social.FollowState:
    async with runtime.db.session() as session:
        return await social.unfollow_user(
            session,
            runtime.redis,
            follower=await session.get_one(User, follower_id),
            username=username,
        )


async def like_count(runtime: Runtime, image_id: int) -> int:
    async with runtime.db.session() as session:
        return int(await session.scalar(select(Image.like_count).where(Image.id == image_id)) or 0)


async def unread(runtime: Runtime, user_id: int) -> int:
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        return await notifications.unread_count(session, runtime.redis, user_id)


async def kinds(runtime: Runtime, user_id: int) -> list[str]:
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        page = await notifications.list_notifications(
            session, runtime.redis, user_id=user_id, limit=100, cursor=None
        )
    return [entry.notification.kind for entry in page.entries]


# -- likes ---------------------------------------------------------------------


async def test_liking_is_idempotent_and_unliking_what_was_never_liked_is_fine(
    runtime: Runtime,
) -> None:
    owner = await make_active_user(runtime)
    (fan,) = await quick_users(runtime, 1)
    (image_id,) = await add_image_rows(runtime, owner, 1)

    assert await unlike(runtime, fan, image_id) == social.LikeState(liked=False, like_count=0)
    assert await like(runtime, fan, image_id) == social.LikeState(liked=True, like_count=1)
    assert await like(runtime, fan, image_id) == social.LikeState(liked=True, like_count=1)
    assert await count_rows(runtime, Like) == 1
    assert await unlike(runtime, fan, image_id) == social.LikeState(liked=False, like_count=0)
    assert await unlike(runtime, fan, image_id) == social.LikeState(liked=False, like_count=0)
    assert await count_rows(runtime, Like) == 0


async def test_liking_a_missing_image_is_not_found(runtime: Runtime) -> None:
    (fan,) = await quick_users(runtime, 1)
    with pytest.raises(NotFoundError):
        await like(runtime, fan, 999_999)
    with pytest.raises(NotFoundError):
        await unlike(runtime, fan, 999_999)
    assert await count_rows(runtime, Like) == 0


async def test_many_people_liking_at_once_count_exactly(runtime: Runtime) -> None:
    owner = await make_active_user(runtime)
    fans = await quick_users(runtime, 24)
    (image_id,) = await add_image_rows(runtime, owner, 1)

    # Every fan at once, each twice (double clicks): one like each, none lost.
    await asyncio.gather(*(like(runtime, fan, image_id) for fan in fans + fans))
    assert await like_count(runtime, image_id) == len(fans)
    assert await count_rows(runtime, Like, Like.image_id == image_id) == len(fans)

    # Half of them take it back while the others like again: still exact.
    leaving, staying = fans[::2], fans[1::2]
    await asyncio.gather(
        *(unlike(runtime, fan, image_id) for fan in leaving),
        *(like(runtime, fan, image_id) for fan in staying),
    )
    assert await like_count(runtime, image_id) == len(staying)
    assert await count_rows(runtime, Like, Like.image_id == image_id) == len(staying)
    received = await count_rows(runtime, Notification, Notification.recipient_id == owner)
    assert received == len(staying)


async def test_concurrent_comments_and_likes_on_one_image_do_not_deadlock(
    runtime: Runtime,
) -> None:
    owner = await make_active_user(runtime)
    fans = await quick_users(runtime, 12)
    (image_id,) = await add_image_rows(runtime, owner, 1)

    async def comment(fan: int) -> None:
        async with runtime.db.session() as session:
            await comments.add_comment(
                session,
                runtime.redis,
                image_id=image_id,
                author=await session.get_one(User, fan),
                content="lovely",
            )

    await asyncio.gather(*(like(runtime, fan, image_id) for fan in fans), *map(comment, fans))
    async with runtime.db.session() as session:
        image = await session.get_one(Image, image_id)
    assert (image.like_count, image.comment_count) == (len(fans), len(fans))


async def test_feeds_say_what_the_viewer_liked(runtime: Runtime) -> None:
    owner = await make_active_user(runtime)
    fan, other = await quick_users(runtime, 2)
    liked_id, _unliked_id = await add_image_rows(runtime, owner, 2)
    await like(runtime, fan, liked_id)

    async with runtime.db.session() as session:
        for viewer, expected in ((fan, {liked_id}), (other, set()), (None, set())):
            page = await feeds.latest(session, viewer_id=viewer, limit=10, cursor=None)
            assert {card.image.id for card in page.cards if card.liked} == expected
            card = await feeds.image_card(session, liked_id, viewer)
            assert card.liked is (liked_id in expected)
            assert card.image.like_count == 1


async def test_an_inactive_account_cannot_like(runtime: Runtime) -> None:
    owner = await make_active_user(runtime)
    (fan,) = await quick_users(runtime, 1)
    (image_id,) = await add_image_rows(runtime, owner, 1)
    async with runtime.db.session() as session:
        account = await session.get_one(User, fan)
        account.is_active = False
        await session.commit()
        with pytest.raises(PermissionDenied):
            await social.like_image(session, runtime.redis, user=account, image_id=image_id)
    assert await count_rows(runtime, Like) == 0


# -- follows -------------------------------------------------------------------


async def test_follow_unfollow_counts_and_idempotence(runtime: Runtime) -> None:
    await make_active_user(runtime)
    fans = await quick_users(runtime, 3)
    alice = await fetch_user(runtime, (await quick_users(runtime, 1, "star"))[0])

    assert await follow(runtime, fans[0], alice.username) == social.FollowState(True, 1)
    assert await follow(runtime, fans[0], alice.username.upper()) == social.FollowState(True, 1)
    assert await follow(runtime, fans[1], alice.username) == social.FollowState(True, 2)
    assert await count_rows(runtime, Follow) == 2
    assert await unfollow(runtime, fans[0], alice.username) == social.FollowState(False, 1)
    assert await unfollow(runtime, fans[0], alice.username) == social.FollowState(False, 1)
    assert await unfollow(runtime, fans[2], alice.username) == social.FollowState(False, 1)

    async with runtime.db.session() as session:
        assert await social.follow_counts(session, alice.id) == social.FollowCounts(1, 0)
        assert await social.follow_counts(session, fans[1]) == social.FollowCounts(0, 1)
        assert await social.is_following(session, fans[1], alice.id)
        assert not await social.is_following(session, fans[0], alice.id)
        assert not await social.is_following(session, None, alice.id)


async def test_nobody_follows_themselves_or_a_missing_user(runtime: Runtime) -> None:
    (fan,) = await quick_users(runtime, 1)
    with pytest.raises(InvalidInput, match="yourself"):
        await follow(runtime, fan, "fan0")
    with pytest.raises(InvalidInput):
        await unfollow(runtime, fan, "FAN0")
    with pytest.raises(NotFoundError):
        await follow(runtime, fan, "nobody")
    assert await count_rows(runtime, Follow) == 0


async def test_follower_lists_page_newest_first(runtime: Runtime) -> None:
    (star,) = await quick_users(runtime, 1, "star")
    fans = await quick_users(runtime, 5)
    for fan in fans:
        await follow(runtime, fan, "star0")

    async with runtime.db.session() as session:
        first = await social.list_followers(session, star, limit=3, cursor=None)
        rest = await social.list_followers(session, star, limit=3, cursor=first.next_cursor)
        following = await social.list_following(session, fans[0], limit=10, cursor=None)
    assert [u.id for u in first.users + rest.users] == list(reversed(fans))
    assert rest.next_cursor is None
    assert [u.username for u in following.users] == ["star0"]


async def test_the_following_feed_shows_only_followed_people_newest_first(
    runtime: Runtime,
) -> None:
    viewer, followed, stranger = await quick_users(runtime, 3)
    followed_images = await add_image_rows(runtime, followed, 3)
    await add_image_rows(runtime, stranger, 2)
    await add_image_rows(runtime, viewer, 1)

    async with runtime.db.session() as session:
        empty = await feeds.following(session, viewer_id=viewer, limit=10, cursor=None)
    assert empty.cards == [] and empty.next_cursor is None

    await follow(runtime, viewer, "fan1")
    async with runtime.db.session() as session:
        first = await feeds.following(session, viewer_id=viewer, limit=2, cursor=None)
        rest = await feeds.following(session, viewer_id=viewer, limit=2, cursor=first.next_cursor)
    shown = [card.image.id for card in first.cards + rest.cards]
    assert shown == sorted(followed_images, reverse=True)
    assert rest.next_cursor is None


# -- notifications -------------------------------------------------------------


async def test_comments_likes_and_follows_notify_the_owner_but_never_oneself(
    runtime: Runtime,
) -> None:
    owner, fan = await quick_users(runtime, 2)
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
    await like(runtime, owner, image_id)  # one's own like: no notice
    await like(runtime, fan, image_id)
    await follow(runtime, fan, "fan0")

    assert await kinds(runtime, owner) == ["follow", "like", "comment"]
    assert await kinds(runtime, fan) == []
    assert await unread(runtime, owner) == 3

    async with runtime.db.session() as session:
        page = await notifications.list_notifications(
            session, runtime.redis, user_id=owner, limit=10, cursor=None
        )
    follow_notice, like_notice, comment_notice = page.entries
    assert follow_notice.image is None and follow_notice.notification.actor.username == "fan1"
    assert like_notice.image is not None and like_notice.image.id == image_id
    assert comment_notice.comment is not None and comment_notice.comment.content == "hello"


async def test_a_like_then_an_unlike_leaves_no_notice(runtime: Runtime) -> None:
    owner, fan = await quick_users(runtime, 2)
    (image_id,) = await add_image_rows(runtime, owner, 1)

    await like(runtime, fan, image_id)
    assert await unread(runtime, owner) == 1
    await unlike(runtime, fan, image_id)
    assert await kinds(runtime, owner) == []
    assert await unread(runtime, owner) == 0

    # Toggling many times never piles notices up: one per standing like.
    for _ in range(3):
        await like(runtime, fan, image_id)
        await unlike(runtime, fan, image_id)
    await like(runtime, fan, image_id)
    assert await kinds(runtime, owner) == ["like"]


async def test_an_unfollow_and_a_deleted_comment_withdraw_their_notices(
    runtime: Runtime,
) -> None:
    owner, fan = await quick_users(runtime, 2)
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await follow(runtime, fan, "fan0")
    async with runtime.db.session() as session:
        comment = await comments.add_comment(
            session,
            runtime.redis,
            image_id=image_id,
            author=await session.get_one(User, fan),
            content="nice",
        )
    assert await kinds(runtime, owner) == ["comment", "follow"]

    await unfollow(runtime, fan, "fan0")
    async with runtime.db.session() as session:
        await comments.delete_comment(
            session, runtime.redis, comment_id=comment.id, actor=await session.get_one(User, fan)
        )
    assert await kinds(runtime, owner) == []
    assert await unread(runtime, owner) == 0


async def test_deleting_an_image_removes_its_likes_and_notices(runtime: Runtime) -> None:
    owner, fan = await quick_users(runtime, 2)
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await like(runtime, fan, image_id)
    async with runtime.db.session() as session:
        await comments.add_comment(
            session,
            runtime.redis,
            image_id=image_id,
            author=await session.get_one(User, fan),
            content="nice",
        )
    assert await unread(runtime, owner) == 2

    async with runtime.db.session() as session:
        await images.delete_image(
            session,
            runtime.storage,
            runtime.redis,
            image_id=image_id,
            actor=await session.get_one(User, owner),
        )
    assert await count_rows(runtime, Like) == 0
    assert await count_rows(runtime, Comment) == 0
    assert await count_rows(runtime, Notification) == 0
    assert await unread(runtime, owner) == 0


async def test_marking_read_one_and_all(runtime: Runtime) -> None:
    owner, first_fan, second_fan = await quick_users(runtime, 3)
    for fan in (first_fan, second_fan):
        await follow(runtime, fan, "fan0")
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
    (owner,) = await quick_users(runtime, 1, "star")
    fans = await quick_users(runtime, 5)
    for fan in fans:
        await follow(runtime, fan, "star0")
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
    owner, fan = await quick_users(runtime, 2)
    (image_id,) = await add_image_rows(runtime, owner, 1)
    assert runtime.redis is not None
    assert await unread(runtime, owner) == 0
    before = await notifications.version(runtime.redis, owner)

    await like(runtime, fan, image_id)
    assert await notifications.version(runtime.redis, owner) != before
    assert await unread(runtime, owner) == 1

    # A cached count is served from Redis: a row changed behind the services'
    # back is not seen until the next change moves the version.
    async with runtime.db.session() as session:
        await session.execute(Notification.__table__.delete())
        await session.commit()
    assert await unread(runtime, owner) == 1
    await notifications.bump_for(runtime.redis, owner)
    assert await unread(runtime, owner) == 0

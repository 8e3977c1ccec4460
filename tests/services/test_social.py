"""Likes, follows and the following feed, at the service level (``services/social.py``).

The notices they give are tested with the notifications, in ``test_notifications.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from gallery.infra.runtime import Runtime
from gallery.models import Follow, Image, Like, Notification, User
from gallery.services import comments, feeds, social
from gallery.services.errors import InvalidInput, NotFoundError, PermissionDenied
from tests.helpers import (
    add_follow,
    add_like,
    add_numbered_user_rows,
    count_rows,
    fetch_user,
    make_active_user,
    remove_follow,
    remove_like,
    stored_like_count,
)
from tests.images import add_image_rows

# -- likes ---------------------------------------------------------------------


async def test_liking_is_idempotent_and_unliking_what_was_never_liked_is_fine(
    runtime: Runtime,
) -> None:
    owner = await make_active_user(runtime)
    (fan,) = await add_numbered_user_rows(runtime, 1)
    (image_id,) = await add_image_rows(runtime, owner, 1)

    assert await remove_like(runtime, fan, image_id) == social.LikeState(liked=False, like_count=0)
    assert await add_like(runtime, fan, image_id) == social.LikeState(liked=True, like_count=1)
    assert await add_like(runtime, fan, image_id) == social.LikeState(liked=True, like_count=1)
    assert await count_rows(runtime, Like) == 1
    assert await remove_like(runtime, fan, image_id) == social.LikeState(liked=False, like_count=0)
    assert await remove_like(runtime, fan, image_id) == social.LikeState(liked=False, like_count=0)
    assert await count_rows(runtime, Like) == 0


async def test_liking_a_missing_image_is_not_found(runtime: Runtime) -> None:
    (fan,) = await add_numbered_user_rows(runtime, 1)
    with pytest.raises(NotFoundError):
        await add_like(runtime, fan, 999_999)
    with pytest.raises(NotFoundError):
        await remove_like(runtime, fan, 999_999)
    assert await count_rows(runtime, Like) == 0


async def test_many_people_liking_at_once_count_exactly(runtime: Runtime) -> None:
    owner = await make_active_user(runtime)
    fans = await add_numbered_user_rows(runtime, 24)
    (image_id,) = await add_image_rows(runtime, owner, 1)

    # Every fan at once, each twice (double clicks): one like each, none lost.
    await asyncio.gather(*(add_like(runtime, fan, image_id) for fan in fans + fans))
    assert await stored_like_count(runtime, image_id) == len(fans)
    assert await count_rows(runtime, Like, Like.image_id == image_id) == len(fans)

    # Half of them take it back while the others like again: still exact.
    leaving, staying = fans[::2], fans[1::2]
    await asyncio.gather(
        *(remove_like(runtime, fan, image_id) for fan in leaving),
        *(add_like(runtime, fan, image_id) for fan in staying),
    )
    assert await stored_like_count(runtime, image_id) == len(staying)
    assert await count_rows(runtime, Like, Like.image_id == image_id) == len(staying)
    received = await count_rows(runtime, Notification, Notification.recipient_id == owner)
    assert received == len(staying)


async def test_concurrent_comments_and_likes_on_one_image_do_not_deadlock(
    runtime: Runtime,
) -> None:
    owner = await make_active_user(runtime)
    fans = await add_numbered_user_rows(runtime, 12)
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

    await asyncio.gather(*(add_like(runtime, fan, image_id) for fan in fans), *map(comment, fans))
    async with runtime.db.session() as session:
        image = await session.get_one(Image, image_id)
    assert (image.like_count, image.comment_count) == (len(fans), len(fans))


async def test_feeds_say_what_the_viewer_liked(runtime: Runtime) -> None:
    owner = await make_active_user(runtime)
    fan, other = await add_numbered_user_rows(runtime, 2)
    liked_id, _unliked_id = await add_image_rows(runtime, owner, 2)
    await add_like(runtime, fan, liked_id)

    async with runtime.db.session() as session:
        for viewer, expected in ((fan, {liked_id}), (other, set()), (None, set())):
            page = await feeds.latest(session, viewer_id=viewer, limit=10, cursor=None)
            assert {card.image.id for card in page.cards if card.liked} == expected
            user = await session.get(User, viewer) if viewer is not None else None
            card = await feeds.image_card(session, liked_id, user)
            assert card.liked is (liked_id in expected)
            assert card.image.like_count == 1


async def test_an_inactive_account_cannot_like(runtime: Runtime) -> None:
    owner = await make_active_user(runtime)
    (fan,) = await add_numbered_user_rows(runtime, 1)
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
    fans = await add_numbered_user_rows(runtime, 3)
    alice = await fetch_user(runtime, (await add_numbered_user_rows(runtime, 1, "star"))[0])

    assert await add_follow(runtime, fans[0], alice.username) == social.FollowState(True, 1)
    assert await add_follow(runtime, fans[0], alice.username.upper()) == social.FollowState(True, 1)
    assert await add_follow(runtime, fans[1], alice.username) == social.FollowState(True, 2)
    assert await count_rows(runtime, Follow) == 2
    assert await remove_follow(runtime, fans[0], alice.username) == social.FollowState(False, 1)
    assert await remove_follow(runtime, fans[0], alice.username) == social.FollowState(False, 1)
    assert await remove_follow(runtime, fans[2], alice.username) == social.FollowState(False, 1)

    async with runtime.db.session() as session:
        assert await social.follow_counts(session, alice.id) == social.FollowCounts(1, 0)
        assert await social.follow_counts(session, fans[1]) == social.FollowCounts(0, 1)
        assert await social.is_following(session, fans[1], alice.id)
        assert not await social.is_following(session, fans[0], alice.id)
        assert not await social.is_following(session, None, alice.id)


async def test_nobody_follows_themselves_or_a_missing_user(runtime: Runtime) -> None:
    (fan,) = await add_numbered_user_rows(runtime, 1)
    with pytest.raises(InvalidInput, match="yourself"):
        await add_follow(runtime, fan, "fan0")
    with pytest.raises(InvalidInput):
        await remove_follow(runtime, fan, "FAN0")
    with pytest.raises(NotFoundError):
        await add_follow(runtime, fan, "nobody")
    assert await count_rows(runtime, Follow) == 0


async def test_follower_lists_page_newest_first(runtime: Runtime) -> None:
    (star,) = await add_numbered_user_rows(runtime, 1, "star")
    fans = await add_numbered_user_rows(runtime, 5)
    for fan in fans:
        await add_follow(runtime, fan, "star0")

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
    viewer, followed, stranger = await add_numbered_user_rows(runtime, 3)
    followed_images = await add_image_rows(runtime, followed, 3)
    await add_image_rows(runtime, stranger, 2)
    await add_image_rows(runtime, viewer, 1)

    async with runtime.db.session() as session:
        empty = await feeds.following(session, viewer_id=viewer, limit=10, cursor=None)
    assert empty.cards == [] and empty.next_cursor is None

    await add_follow(runtime, viewer, "fan1")
    async with runtime.db.session() as session:
        first = await feeds.following(session, viewer_id=viewer, limit=2, cursor=None)
        rest = await feeds.following(session, viewer_id=viewer, limit=2, cursor=first.next_cursor)
    shown = [card.image.id for card in first.cards + rest.cards]
    assert shown == sorted(followed_images, reverse=True)
    assert rest.next_cursor is None


# -- notifications -------------------------------------------------------------

"""Comments (``services/comments.py``): posting, listing, deleting; the counts and the
notices that move with them; who may delete, and what the moderation log keeps."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import (
    Comment,
    Image,
    ModerationAction,
    Notification,
    NotificationKind,
    Permission,
    Report,
    Role,
    User,
)
from gallery.services import comments, feeds, notifications
from gallery.services.errors import InvalidInput, NotFoundError, PermissionDenied
from gallery.services.permissions import AccountLocked
from gallery.services.reports import ReportTarget
from tests.helpers import (
    add_comment,
    add_numbered_user_rows,
    add_user_row,
    add_user_rows,
    count_rows,
    delete_comment,
    fetch_user,
    file_report,
    list_comments_on,
    moderation_entries,
    unread_count_of,
)
from tests.images import add_image_rows


async def comment_count(runtime: Runtime, image_id: int) -> int:
    """The image row's ``comment_count``."""
    async with runtime.db.session() as session:
        return (await session.get_one(Image, image_id)).comment_count


async def comment_notices(runtime: Runtime, recipient_id: int) -> list[tuple[int, int | None]]:
    """The recipient's comment notices as (actor, comment) pairs, oldest first."""
    async with runtime.db.session() as session:
        rows = await session.execute(
            select(Notification.actor_id, Notification.comment_id)
            .where(
                Notification.recipient_id == recipient_id,
                Notification.kind == NotificationKind.COMMENT.value,
            )
            .order_by(Notification.id)
        )
        return [(actor, comment) for actor, comment in rows.all()]


# -- posting ---------------------------------------------------------------------


async def test_a_comment_is_trimmed_counted_and_returned_with_its_author(
    runtime: Runtime,
) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)

    async with runtime.db.session() as session:
        comment = await comments.add_comment(
            session,
            runtime.redis,
            image_id=image_id,
            author=await session.get_one(User, fan),
            content="  Lovely light \n",
        )
    assert comment.id is not None and comment.created_at is not None
    assert (comment.image_id, comment.author_id, comment.content) == (image_id, fan, "Lovely light")
    assert comment.author.username == "fan"  # loaded: the API shape needs it
    assert await comment_count(runtime, image_id) == 1
    assert await count_rows(runtime, Comment) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Write something before posting the comment."),
        ("", "Write something before posting the comment."),
        (" \n\t ", "Write something before posting the comment."),
        ("x" * 1001, "The comment is too long: at most 1000 characters."),
    ],
)
async def test_empty_and_overlong_comments_are_refused(
    runtime: Runtime, content: str | None, message: str
) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    async with runtime.db.session() as session:
        with pytest.raises(InvalidInput) as refused:
            await comments.add_comment(
                session,
                runtime.redis,
                image_id=image_id,
                author=await session.get_one(User, fan),
                content=content,
            )
    assert (refused.value.message, refused.value.field) == (message, "content")
    assert await count_rows(runtime, Comment) == 0
    assert await comment_count(runtime, image_id) == 0
    assert await count_rows(runtime, Notification) == 0


async def test_a_comment_of_exactly_1000_characters_is_kept_whole(runtime: Runtime) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    comment_id = await add_comment(runtime, fan, image_id, "é" * 1000)
    async with runtime.db.session() as session:
        assert (await comments.get_comment(session, comment_id)).content == "é" * 1000


async def test_commenting_on_a_missing_image_is_not_found(runtime: Runtime) -> None:
    (fan,) = await add_numbered_user_rows(runtime, 1)
    with pytest.raises(NotFoundError):
        await add_comment(runtime, fan, 999_999, "hello?")
    assert await count_rows(runtime, Comment) == 0


async def test_only_active_unlocked_accounts_with_the_comment_bit_comment(
    runtime: Runtime,
) -> None:
    owner = await add_user_row(runtime, "owner")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    no_bit = await add_user_row(runtime, "nobit", role=Permission.FOLLOW | Permission.UPLOAD)
    inactive = await add_user_row(runtime, "sleeper", active=False)
    locked = await add_user_row(runtime, "locked", locked=True)

    with pytest.raises(PermissionDenied) as refused:
        await add_comment(runtime, no_bit, image_id)
    assert not isinstance(refused.value, AccountLocked)
    with pytest.raises(PermissionDenied) as refused:
        await add_comment(runtime, inactive, image_id)
    assert not isinstance(refused.value, AccountLocked)
    with pytest.raises(AccountLocked):
        await add_comment(runtime, locked, image_id)
    assert await count_rows(runtime, Comment) == 0
    assert await comment_count(runtime, image_id) == 0


async def test_a_comment_notifies_the_image_owner_and_nobody_else(runtime: Runtime) -> None:
    owner, first, second = await add_user_rows(runtime, "owner", "first", "second")
    (image_id,) = await add_image_rows(runtime, owner, 1)

    earlier = await add_comment(runtime, first, image_id, "first!")
    later = await add_comment(runtime, second, image_id, "second")
    own = await add_comment(runtime, owner, image_id, "thanks, both")

    # The owner hears of both; the earlier commenter of nothing; the owner's own
    # comment tells nobody.
    assert await comment_notices(runtime, owner) == [(first, earlier), (second, later)]
    assert await comment_notices(runtime, first) == []
    assert await count_rows(runtime, Notification, Notification.comment_id == own) == 0
    assert await unread_count_of(runtime, owner) == 2


async def test_a_comment_moves_the_feed_version_and_the_owners_notices_version(
    runtime: Runtime,
) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    redis = runtime.redis
    assert redis is not None
    feed_before = await feeds.feed_version(redis)
    notices_before = await notifications.version(redis, owner)

    await add_comment(runtime, fan, image_id)
    feed_after = await feeds.feed_version(redis)
    notices_after = await notifications.version(redis, owner)
    assert feed_after != feed_before  # the feeds show the comment and its count
    assert notices_after != notices_before  # the bell's cached count is stale

    await add_comment(runtime, owner, image_id)  # no notice: the owner's version stays
    assert await feeds.feed_version(redis) != feed_after
    assert await notifications.version(redis, owner) == notices_after


async def test_many_comments_at_once_count_exactly(runtime: Runtime) -> None:
    owner = await add_user_row(runtime, "owner")
    fans = await add_numbered_user_rows(runtime, 12)
    (image_id,) = await add_image_rows(runtime, owner, 1)

    await asyncio.gather(*(add_comment(runtime, fan, image_id, "wow") for fan in fans + fans))
    assert await comment_count(runtime, image_id) == 2 * len(fans)
    assert await count_rows(runtime, Comment, Comment.image_id == image_id) == 2 * len(fans)
    assert await count_rows(runtime, Notification, Notification.recipient_id == owner) == 24


# -- listing ---------------------------------------------------------------------


async def test_comments_are_listed_oldest_first_by_pages_with_their_authors(
    runtime: Runtime,
) -> None:
    owner, alice, bob = await add_user_rows(runtime, "owner", "alice", "bob")
    shown, elsewhere = await add_image_rows(runtime, owner, 2)
    ids = [
        await add_comment(runtime, author, shown, f"comment {index}")
        for index, author in enumerate([alice, bob, alice, owner, bob])
    ]
    await add_comment(runtime, alice, elsewhere, "not on this one")

    seen: list[Comment] = []
    cursor = None
    async with runtime.db.session() as session:
        while True:
            page = await comments.list_comments(session, shown, viewer=None, limit=2, cursor=cursor)
            assert len(page.comments) <= 2
            seen += page.comments
            cursor = page.next_cursor
            if cursor is None:
                break
    assert [c.id for c in seen] == ids
    assert [c.content for c in seen] == [f"comment {index}" for index in range(5)]
    assert [c.author.username for c in seen] == ["alice", "bob", "alice", "owner", "bob"]


async def test_an_image_without_comments_lists_none(runtime: Runtime) -> None:
    owner = await add_user_row(runtime, "owner")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    async with runtime.db.session() as session:
        page = await comments.list_comments(session, image_id, viewer=None, limit=None, cursor=None)
    assert page == comments.CommentPage(comments=[], next_cursor=None)


async def test_listing_refuses_missing_images_and_bad_paging(runtime: Runtime) -> None:
    owner = await add_user_row(runtime, "owner")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    async with runtime.db.session() as session:
        with pytest.raises(NotFoundError):
            await comments.list_comments(session, 999_999, viewer=None, limit=None, cursor=None)
        for limit in (0, 101):
            with pytest.raises(InvalidInput):
                await comments.list_comments(
                    session, image_id, viewer=None, limit=limit, cursor=None
                )
        with pytest.raises(InvalidInput):
            await comments.list_comments(
                session, image_id, viewer=None, limit=None, cursor="not-ours"
            )


async def test_one_comment_comes_with_its_author(runtime: Runtime) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    comment_id = await add_comment(runtime, fan, image_id, "hello")
    async with runtime.db.session() as session:
        comment = await comments.get_comment(session, comment_id)
        assert (comment.content, comment.author.username) == ("hello", "fan")
        with pytest.raises(NotFoundError):
            await comments.get_comment(session, 999_999)


# -- deleting --------------------------------------------------------------------


async def test_the_author_the_owner_and_moderators_may_delete_a_comment(
    runtime: Runtime,
) -> None:
    owner, author, stranger = await add_user_rows(runtime, "owner", "author", "stranger")
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    locked_mod = await add_user_row(runtime, "lockedmod", role=Role.MODERATOR, locked=True)
    (image_id,) = await add_image_rows(runtime, owner, 1)
    comment_id = await add_comment(runtime, author, image_id)
    async with runtime.db.session() as session:
        comment = await comments.get_comment(session, comment_id)
    allowed = {
        name: comments.may_delete_comment(await fetch_user(runtime, user_id), comment, owner)
        for name, user_id in [
            ("owner", owner),
            ("author", author),
            ("mod", mod),
            ("stranger", stranger),
            ("lockedmod", locked_mod),
        ]
    }
    assert allowed == {
        "owner": True,
        "author": True,
        "mod": True,
        "stranger": False,
        "lockedmod": False,  # a locked moderator does not moderate
    }
    assert comments.may_delete_comment(None, comment, owner) is False


async def test_deleting_a_comment_takes_its_count_notice_and_reports_with_it(
    runtime: Runtime,
) -> None:
    owner, fan, reporter = await add_user_rows(runtime, "owner", "fan", "reporter")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    doomed = await add_comment(runtime, fan, image_id, "doomed")
    kept = await add_comment(runtime, fan, image_id, "kept")
    await file_report(runtime, reporter, ReportTarget.COMMENT, doomed)
    await file_report(runtime, reporter, ReportTarget.COMMENT, kept)
    assert await unread_count_of(runtime, owner) == 2

    assert await delete_comment(runtime, fan, doomed) == image_id
    assert [c.id for c in await list_comments_on(runtime, image_id)] == [kept]
    assert await comment_count(runtime, image_id) == 1
    assert await count_rows(runtime, Report) == 1
    assert await count_rows(runtime, Report, Report.comment_id == kept) == 1
    assert await comment_notices(runtime, owner) == [(fan, kept)]
    assert await unread_count_of(runtime, owner) == 1  # the bell's cache moved on
    assert await moderation_entries(runtime) == []  # the author's own: not moderation


async def test_deleting_what_is_gone_is_not_found(runtime: Runtime) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    comment_id = await add_comment(runtime, fan, image_id)
    await delete_comment(runtime, fan, comment_id)
    with pytest.raises(NotFoundError):
        await delete_comment(runtime, fan, comment_id)
    with pytest.raises(NotFoundError):
        await delete_comment(runtime, fan, 999_999)
    assert await comment_count(runtime, image_id) == 0


async def test_a_moderators_reason_is_at_most_500_characters(runtime: Runtime) -> None:
    owner, fan = await add_user_rows(runtime, "owner", "fan")
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    (image_id,) = await add_image_rows(runtime, owner, 1)
    comment_id = await add_comment(runtime, fan, image_id)
    with pytest.raises(InvalidInput):
        await delete_comment(runtime, mod, comment_id, reason="x" * 501)
    assert await count_rows(runtime, Comment) == 1
    assert await moderation_entries(runtime) == []
    await delete_comment(runtime, mod, comment_id, reason="x" * 500)
    assert (await moderation_entries(runtime))[0].reason == "x" * 500


async def test_a_report_queue_deletion_is_logged_even_on_ones_own_photo(
    runtime: Runtime,
) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    (fan,) = await add_user_rows(runtime, "fan")
    (image_id,) = await add_image_rows(runtime, mod, 1)
    comment_id = await add_comment(runtime, fan, image_id, "spam spam")
    async with runtime.db.session() as session:
        await comments.delete_comment(
            session,
            runtime.redis,
            comment_id=comment_id,
            actor=await session.get_one(User, mod),
            reason="spam",
            moderating=True,
        )
    (entry,) = await moderation_entries(runtime)
    assert (entry.action, entry.subject_id, entry.reason) == (
        ModerationAction.DELETE_COMMENT,
        fan,
        "spam",
    )


async def test_only_a_moderators_deletion_of_other_peoples_comments_is_logged(
    runtime: Runtime,
) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    owner = await add_user_row(runtime, "owner")
    bob = await add_user_row(runtime, "bob")
    stranger = await add_user_row(runtime, "stranger")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    by_author, by_owner, by_mod = [
        await add_comment(runtime, bob, image_id, text)
        for text in ("one", "two", "three  is\nrude")
    ]

    with pytest.raises(PermissionDenied):
        await delete_comment(runtime, stranger, by_author)
    assert await delete_comment(runtime, bob, by_author) == image_id
    await delete_comment(runtime, owner, by_owner)
    assert await moderation_entries(runtime) == []

    await delete_comment(runtime, mod, by_mod, reason="rude")
    (entry,) = await moderation_entries(runtime)
    assert (entry.actor_id, entry.action, entry.target, entry.subject_id, entry.reason) == (
        mod,
        ModerationAction.DELETE_COMMENT,
        f"comment {by_mod}",
        bob,
        "rude",
    )
    assert entry.summary == f"Comment by bob on photo {image_id}: “three is rude”"
    assert await count_rows(runtime, Comment) == 0
    async with runtime.db.session() as session:
        assert (await session.get_one(Image, image_id)).comment_count == 0

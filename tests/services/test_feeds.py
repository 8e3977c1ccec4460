"""Feeds: order, keyset cursors, first comments, and a fixed number of queries per page."""

from __future__ import annotations

from typing import Any

import pytest

from gallery.infra.runtime import Runtime
from gallery.services import feeds
from gallery.services.errors import InvalidInput
from tests.helpers import counted_statements, make_active_user
from tests.images import add_comment_rows, add_image_rows


async def walk(runtime: Runtime, limit: int, **kwargs: Any) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        async with runtime.db.session() as session:
            page = await feeds.latest(session, viewer_id=None, limit=limit, cursor=cursor, **kwargs)
        seen.extend(card.image.id for card in page.cards)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def test_latest_is_newest_first_and_cursor_walks_everything_once(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_image_rows(runtime, user_id, 7)
    assert await walk(runtime, limit=3) == sorted(ids, reverse=True)


async def test_cursor_is_stable_while_new_images_arrive(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_image_rows(runtime, user_id, 6)
    async with runtime.db.session() as session:
        first = await feeds.latest(session, viewer_id=None, limit=3, cursor=None)
    await add_image_rows(runtime, user_id, 4)  # uploads between two polls
    async with runtime.db.session() as session:
        second = await feeds.latest(session, viewer_id=None, limit=3, cursor=first.next_cursor)
    shown = [c.image.id for c in first.cards] + [c.image.id for c in second.cards]
    assert shown == sorted(ids, reverse=True)
    assert second.next_cursor is None


async def test_author_feed_holds_only_that_author(runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    bob = await make_active_user(runtime, "bob", "bob@example.com")
    alice_ids = await add_image_rows(runtime, alice, 3)
    await add_image_rows(runtime, bob, 2)
    async with runtime.db.session() as session:
        page = await feeds.by_author(session, alice, viewer_id=None, limit=10, cursor=None)
    assert [c.image.id for c in page.cards] == sorted(alice_ids, reverse=True)
    assert all(c.image.author.username == "alice" for c in page.cards)


@pytest.mark.parametrize(
    "cursor",
    [
        "zzz",
        "!!!",
        "djE6MA",  # "v1:0"
        "djE6LTE",  # "v1:-1"
        "djE6YWJj",  # "v1:abc"
        "djE6OTk5OTk5OTk5OTk5OTk5OTk5OQ",  # "v1:99999999999999999999"
        "djI6MTA",  # "v2:10"
        "x" * 500,
        "djE6MTA=====",
        "\u00e9t\u00e9",
    ],
)
async def test_malformed_cursors_are_refused(runtime: Runtime, cursor: str) -> None:
    async with runtime.db.session() as session:
        with pytest.raises(InvalidInput) as refused:
            await feeds.latest(session, viewer_id=None, limit=5, cursor=cursor)
    assert "cursor" in refused.value.message


@pytest.mark.parametrize("limit", [0, -1, 101])
async def test_limits_outside_1_to_100_are_refused(runtime: Runtime, limit: int) -> None:
    async with runtime.db.session() as session:
        with pytest.raises(InvalidInput):
            await feeds.latest(session, viewer_id=None, limit=limit, cursor=None)


async def test_cards_carry_the_first_two_comments_oldest_first(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    busy, quiet, single = await add_image_rows(runtime, user_id, 3)
    await add_comment_rows(runtime, busy, user_id, 5)
    await add_comment_rows(runtime, single, user_id, 1)
    async with runtime.db.session() as session:
        page = await feeds.latest(session, viewer_id=user_id, limit=10, cursor=None)
    cards = {card.image.id: card for card in page.cards}
    assert [c.content for c in cards[busy].first_comments] == ["comment 0", "comment 1"]
    assert cards[busy].image.comment_count == 5
    assert cards[quiet].first_comments == []
    assert [c.content for c in cards[single].first_comments] == ["comment 0"]
    assert cards[single].first_comments[0].author.username == "alice"


async def test_a_page_costs_the_same_queries_whatever_its_length(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    bob = await make_active_user(runtime, "bob", "bob@example.com")
    ids = await add_image_rows(runtime, user_id, 30)
    for image_id in ids[-25:]:
        await add_comment_rows(runtime, image_id, bob, 3)

    async def statements_for(limit: int) -> int:
        async with runtime.db.session() as session:
            with counted_statements(runtime) as statements:
                page = await feeds.latest(session, viewer_id=user_id, limit=limit, cursor=None)
                # Touch everything a serialiser reads: nothing may load lazily.
                for card in page.cards:
                    assert card.image.author.username
                    for comment in card.first_comments:
                        assert comment.author.username
        assert len(page.cards) == limit
        return len(statements)

    short, long = await statements_for(2), await statements_for(25)
    assert short == long
    # The posts with their authors, their photos, the first comments, the likes.
    assert long <= 4


async def test_numbered_pages_for_the_seed_clients(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = sorted(await add_image_rows(runtime, user_id, 5), reverse=True)
    async with runtime.db.session() as session:
        first = await feeds.numbered_page(session, page=1, per_page=2, viewer_id=None)
        last = await feeds.numbered_page(session, page=3, per_page=2, viewer_id=None)
        beyond = await feeds.numbered_page(session, page=4, per_page=2, viewer_id=None)
    assert [c.image.id for c in first.cards] == ids[:2] and first.has_next
    assert [c.image.id for c in last.cards] == ids[4:] and not last.has_next
    assert beyond.cards == [] and not beyond.has_next


async def test_feed_version_changes_on_every_bump(runtime: Runtime) -> None:
    assert runtime.redis is not None
    before = await feeds.feed_version(runtime.redis)
    assert await feeds.feed_version(runtime.redis) == before
    await feeds.bump_feed_version(runtime.redis)
    assert await feeds.feed_version(runtime.redis) != before

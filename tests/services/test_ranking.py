"""The hot feed and today's top: the documented score, the cached ranking, stable paging."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from gallery.infra.runtime import Runtime
from gallery.models.image import Image
from gallery.services import ranking
from gallery.services.errors import InvalidInput
from tests.helpers import counted_statements, make_active_user
from tests.images import add_image_rows


async def set_row(
    runtime: Runtime,
    image_id: int,
    *,
    likes: int = 0,
    comments: int = 0,
    views: int = 0,
    age_hours: float = 1.0,
    now: datetime | None = None,
) -> None:
    """Counts and age straight on the row, as the services would have left them."""
    created_at = (now or datetime.now(UTC)) - timedelta(hours=age_hours)
    async with runtime.db.session() as session:
        await session.execute(
            update(Image)
            .where(Image.id == image_id)
            .values(
                like_count=likes, comment_count=comments, view_count=views, created_at=created_at
            )
        )
        await session.commit()


async def hot_ids(runtime: Runtime, *, limit: int = 100, cursor: str | None = None) -> list[int]:
    async with runtime.db.session() as session:
        page = await ranking.hot_page(
            session, runtime.redis, viewer_id=None, limit=limit, cursor=cursor
        )
    return [card.image.id for card in page.cards]


async def walk_hot(runtime: Runtime, limit: int) -> tuple[list[int], list[str]]:
    seen: list[int] = []
    cursors: list[str] = []
    cursor = None
    while True:
        async with runtime.db.session() as session:
            page = await ranking.hot_page(
                session, runtime.redis, viewer_id=None, limit=limit, cursor=cursor
            )
        seen.extend(card.image.id for card in page.cards)
        if page.next_cursor is None:
            return seen, cursors
        cursor = page.next_cursor
        cursors.append(cursor)


async def refresh(runtime: Runtime, now: datetime | None = None) -> str:
    async with runtime.db.session() as session:
        return await ranking.refresh_ranking(session, runtime.redis, now=now)


def documented_score(likes: int, comments: int, views: int, age_hours: float) -> float:
    return (2 * likes + 3 * comments + views / 10 + 1) / (age_hours + 2) ** 1.5


@pytest.mark.parametrize(
    ("likes", "comments", "views", "age_hours"),
    [(0, 0, 0, 0.0), (5, 0, 0, 1.0), (0, 4, 0, 10.0), (0, 0, 250, 3.5), (12, 7, 900, 70.0)],
)
def test_the_score_is_the_documented_formula(
    likes: int, comments: int, views: int, age_hours: float
) -> None:
    score = ranking.hot_score(likes=likes, comments=comments, views=views, age_hours=age_hours)
    assert score == pytest.approx(documented_score(likes, comments, views, age_hours))


async def test_more_likes_comments_and_views_rank_higher(runtime: Runtime) -> None:
    plain, liked, commented, viewed = await add_image_rows(
        runtime, await make_active_user(runtime), 4
    )
    now = datetime.now(UTC)
    await set_row(runtime, plain, age_hours=3, now=now)
    await set_row(runtime, liked, likes=5, age_hours=3, now=now)
    # A comment weighs more than a like; fifty views weigh less than five likes.
    await set_row(runtime, commented, comments=5, age_hours=3, now=now)
    await set_row(runtime, viewed, views=50, age_hours=3, now=now)
    assert await hot_ids(runtime) == [commented, liked, viewed, plain]


async def test_age_decays_the_score(runtime: Runtime) -> None:
    fresh, day_old, old_but_loved = await add_image_rows(
        runtime, await make_active_user(runtime), 3
    )
    now = datetime.now(UTC)
    await set_row(runtime, fresh, likes=3, age_hours=1, now=now)
    await set_row(runtime, day_old, likes=3, age_hours=24, now=now)
    # Same points, older, lower: 7 / 3^1.5 ≈ 1.35 against 7 / 26^1.5 ≈ 0.05. Many
    # more points outweigh age, within limits: 81 / 50^1.5 ≈ 0.23 sits between.
    await set_row(runtime, old_but_loved, likes=40, age_hours=48, now=now)
    assert await hot_ids(runtime) == [fresh, old_but_loved, day_old]


async def test_the_ranking_follows_the_formula(runtime: Runtime) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 15)
    now = datetime.now(UTC)
    chance = random.Random(4)
    for image_id in ids:
        await set_row(
            runtime,
            image_id,
            likes=chance.randrange(30),
            comments=chance.randrange(10),
            views=chance.randrange(500),
            age_hours=chance.uniform(0, 160),
            now=now,
        )
    async with runtime.db.session() as session:
        rows = (await session.execute(select(Image).where(Image.id.in_(ids)))).scalars().all()
        expected = sorted(
            rows,
            key=lambda r: documented_score(
                r.like_count,
                r.comment_count,
                r.view_count,
                (now - r.created_at).total_seconds() / 3600,
            ),
            reverse=True,
        )
    await refresh(runtime, now)
    assert await hot_ids(runtime) == [r.id for r in expected]


async def test_images_older_than_a_week_are_not_hot(runtime: Runtime) -> None:
    recent, ancient = await add_image_rows(runtime, await make_active_user(runtime), 2)
    await set_row(runtime, recent, age_hours=150)
    await set_row(runtime, ancient, likes=10_000, age_hours=8 * 24)
    assert await hot_ids(runtime) == [recent]


async def test_todays_top_holds_the_last_24_hours_best_first(runtime: Runtime) -> None:
    quiet, loved, yesterday, none_yet = await add_image_rows(
        runtime, await make_active_user(runtime), 4
    )
    now = datetime.now(UTC)
    await set_row(runtime, quiet, likes=1, age_hours=2, now=now)  # 3 / 8 ≈ 0.38
    await set_row(runtime, loved, likes=30, age_hours=20, now=now)  # 61 / 103 ≈ 0.59
    await set_row(runtime, yesterday, likes=500, age_hours=30, now=now)
    await set_row(runtime, none_yet, age_hours=23, now=now)  # 1 / 96 ≈ 0.01
    async with runtime.db.session() as session:
        top = await ranking.todays_top(session, runtime.redis, viewer_id=None)
        two = await ranking.todays_top(session, runtime.redis, viewer_id=None, limit=2)
    assert [c.image.id for c in top] == [loved, quiet, none_yet]
    assert [c.image.id for c in two] == [loved, quiet]
    assert top[0].image.author.username == "alice"
    assert yesterday in await hot_ids(runtime)


@pytest.mark.parametrize("limit", [0, -1, ranking.TODAY_KEPT + 1])
async def test_todays_top_refuses_odd_limits(runtime: Runtime, limit: int) -> None:
    async with runtime.db.session() as session:
        with pytest.raises(InvalidInput):
            await ranking.todays_top(session, runtime.redis, viewer_id=None, limit=limit)


async def test_an_empty_site_has_empty_rankings(runtime: Runtime) -> None:
    async with runtime.db.session() as session:
        page = await ranking.hot_page(session, runtime.redis, viewer_id=None, limit=5, cursor=None)
        top = await ranking.todays_top(session, runtime.redis, viewer_id=None)
    assert page.cards == [] and page.next_cursor is None
    assert top == []


async def test_pages_walk_the_whole_ranking_once(runtime: Runtime) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 8)
    for likes, image_id in enumerate(ids):
        await set_row(runtime, image_id, likes=likes)
    seen, cursors = await walk_hot(runtime, limit=3)
    assert seen == list(reversed(ids))
    assert len(cursors) == 2


async def test_paging_is_stable_while_the_ranking_changes(runtime: Runtime) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 7)
    for likes, image_id in enumerate(ids):
        await set_row(runtime, image_id, likes=likes * 2)
    async with runtime.db.session() as session:
        first = await ranking.hot_page(session, runtime.redis, viewer_id=None, limit=3, cursor=None)
    # Between two pages the least liked image becomes the most liked, and the
    # ranking is redone (as it is every minute).
    await set_row(runtime, ids[0], likes=1000)
    await refresh(runtime)
    assert (await hot_ids(runtime, limit=1)) == [ids[0]]
    async with runtime.db.session() as session:
        rest = await ranking.hot_page(
            session,
            runtime.redis,
            viewer_id=None,
            limit=10,
            cursor=first.next_cursor,
        )
    shown = [c.image.id for c in first.cards] + [c.image.id for c in rest.cards]
    assert shown == list(reversed(ids))
    assert rest.next_cursor is None


async def test_an_expired_ranking_continues_at_the_offset_of_the_current_one(
    runtime: Runtime,
) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 6)
    for likes, image_id in enumerate(ids):
        await set_row(runtime, image_id, likes=likes)
    async with runtime.db.session() as session:
        first = await ranking.hot_page(session, runtime.redis, viewer_id=None, limit=2, cursor=None)
    assert runtime.redis is not None
    # Everything about that ranking expires; the new one puts a new image first.
    await runtime.redis.delete(
        *[key async for key in runtime.redis.scan_iter("hot:*")],
    )
    newcomer = (
        await add_image_rows(runtime, await make_active_user(runtime, "bob", "b@e.com"), 1)
    )[0]
    await set_row(runtime, newcomer, likes=100)
    after = await hot_ids(runtime, limit=2, cursor=first.next_cursor)
    # The current ranking is newcomer, ids[5], ids[4], ids[3], ...: offset 2 onwards.
    assert after == [ids[4], ids[3]]


async def test_a_ranking_is_reused_until_it_expires(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_image_rows(runtime, user_id, 3)
    assert sorted(await hot_ids(runtime)) == sorted(ids)
    later = (await add_image_rows(runtime, user_id, 1))[0]
    with counted_statements(runtime) as statements:
        again = await hot_ids(runtime)
    # Served from the stored ranking: no ranking query, and not the newcomer yet.
    assert later not in again
    assert not any("created_at >=" in s for s in statements)
    assert runtime.redis is not None
    await runtime.redis.delete(ranking.GENERATION_KEY)  # its minute is over
    assert later in await hot_ids(runtime)


async def test_a_page_costs_the_same_queries_whatever_its_length(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await add_image_rows(runtime, user_id, 12)
    await hot_ids(runtime)  # ranked once
    with counted_statements(runtime) as short:
        await hot_ids(runtime, limit=2)
    with counted_statements(runtime) as long:
        await hot_ids(runtime, limit=12)
    assert len(short) == len(long)


async def test_unchanged_rankings_keep_their_generation(runtime: Runtime) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 3)
    now = datetime.now(UTC)
    first = await refresh(runtime, now)
    assert await refresh(runtime, now) == first
    await set_row(runtime, ids[0], likes=50, now=now)
    assert await refresh(runtime, now) != first


async def test_images_deleted_after_ranking_are_left_out(runtime: Runtime) -> None:
    ids = await add_image_rows(runtime, await make_active_user(runtime), 4)
    assert len(await hot_ids(runtime)) == 4
    async with runtime.db.session() as session:
        await session.execute(delete(Image).where(Image.id == ids[1]))
        await session.commit()
    assert sorted(await hot_ids(runtime)) == sorted([ids[0], ids[2], ids[3]])


@pytest.mark.parametrize(
    "cursor",
    [
        "zzz",
        "!!!",
        "djE6MTA",  # "v1:10", the latest feed's cursor
        ranking.encode_hot_cursor("0123456789abcdef", ranking.MAX_RANKED + 1),
        ranking.encode_hot_cursor("0123456789ABCDEF", 3),
        ranking.encode_hot_cursor("0123456789abcdef", -3),
        ranking.encode_hot_cursor("short", 3),
        "aDE6MDEyMzQ1Njc4OWFiY2RlZjowMQ",  # "h1:0123456789abcdef:01"
        "x" * 500,
        "\u00e9t\u00e9",
    ],
)
async def test_cursors_we_did_not_issue_are_refused(runtime: Runtime, cursor: str) -> None:
    async with runtime.db.session() as session:
        with pytest.raises(InvalidInput) as refused:
            await ranking.hot_page(session, runtime.redis, viewer_id=None, limit=5, cursor=cursor)
    assert refused.value.field == "cursor"

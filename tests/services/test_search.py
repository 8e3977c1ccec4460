"""Search: people and tags by prefix, photos by the words of their descriptions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, update

from gallery.infra.runtime import Runtime
from gallery.models import Image, User
from gallery.services import search
from gallery.services.errors import InvalidInput
from gallery.services.search import description_terms
from tests.conftest import BACKEND
from tests.helpers import HOSTILE_QUERIES, make_active_user
from tests.images import add_described_images


async def find_images(runtime: Runtime, query: str, **kwargs: Any) -> list[int]:
    async with runtime.db.session() as session:
        page = await search.search_images(
            session, query, viewer_id=None, limit=kwargs.get("limit"), cursor=kwargs.get("cursor")
        )
    return [card.image.id for card in page.cards]


async def find_users(runtime: Runtime, query: str) -> list[str]:
    async with runtime.db.session() as session:
        page = await search.search_users(session, query, viewer_id=None, limit=None, cursor=None)
    return [user.username for user in page.users]


async def find_tags(runtime: Runtime, query: str) -> list[tuple[str, int]]:
    async with runtime.db.session() as session:
        page = await search.search_tags(session, query, limit=None, cursor=None)
    return [(hit.name, hit.image_count) for hit in page.tags]


# -- queries ---------------------------------------------------------------------


@pytest.mark.parametrize("query", [None, "", " ", "\t\n", "\x00", "\x00 \x1f"])
def test_empty_queries_are_refused(query: str | None) -> None:
    with pytest.raises(InvalidInput, match="Type something"):
        search.clean_query(query)


@pytest.mark.parametrize("length", [101, 10_000])
def test_long_queries_are_refused(length: int) -> None:
    with pytest.raises(InvalidInput, match="at most 100"):
        search.clean_query("x" * length)


def test_queries_of_100_characters_are_fine() -> None:
    assert search.clean_query(" " + "x" * 100 + " ") == "x" * 100


@pytest.mark.parametrize(
    ("query", "dialect", "indexed", "substrings"),
    [
        ("Sunset Beach", "sqlite", ["sunset", "beach"], []),
        ("+sun* -moon ~star", "mysql", ["sun", "moon", "star"], []),
        ('"exact phrase"', "mysql", ["exact", "phrase"], []),
        ("' OR 1=1 --", "sqlite", [], ["or", "1"]),
        ("the cat", "mysql", ["cat"], ["the"]),  # an InnoDB stopword
        ("the cat", "sqlite", ["the", "cat"], []),
        ("at sea", "sqlite", ["sea"], ["at"]),  # under 3 characters
        ("#東京 tower", "mysql", ["tower"], ["東京"]),  # written without spaces
        ("ＳＵＮ Sun sun", "sqlite", ["sun"], []),  # NFKC and case: one word
        ("snake_case", "sqlite", ["snake_case"], []),
    ],
)
def test_queries_become_words(
    query: str, dialect: str, indexed: list[str], substrings: list[str]
) -> None:
    terms = description_terms(query, dialect=dialect)
    assert (terms.indexed, terms.substrings) == (indexed, substrings)


@pytest.mark.parametrize("query", ["#", "+-><()~", "*", "🌅", '"', "...", "@#$%^&*"])
def test_photo_queries_without_words_are_refused(query: str) -> None:
    with pytest.raises(InvalidInput, match="letters or digits"):
        description_terms(query, dialect="sqlite")


def test_too_many_words_are_refused() -> None:
    with pytest.raises(InvalidInput, match="at most 10 words"):
        description_terms(" ".join(f"w{i}" for i in range(11)), dialect="sqlite")


@pytest.mark.parametrize("value", ["pictures", "IMAGES", "user", "0"])
def test_unknown_types_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="users, tags, images"):
        search.search_type(value)


def test_the_default_type_is_images() -> None:
    assert search.search_type(None) is search.SearchType.IMAGES
    assert search.search_type("") is search.SearchType.IMAGES


# -- people ------------------------------------------------------------------------


async def test_people_by_the_start_of_their_username(runtime: Runtime) -> None:
    for name in ("alice", "Alicia", "bob", "malice", "a_b", "axb", "al.ex"):
        await make_active_user(runtime, name, f"{name}@example.com")
    await make_active_user(runtime, "alina", "alina@example.com")
    async with runtime.db.session() as session:
        await session.execute(update(User).where(User.username == "alina").values(is_active=False))
        await session.commit()

    assert await find_users(runtime, "ali") == ["alice", "Alicia"]  # not inactive alina
    assert await find_users(runtime, "ALI") == ["alice", "Alicia"]
    assert await find_users(runtime, "@ali") == ["alice", "Alicia"]
    assert await find_users(runtime, "alice") == ["alice"]
    assert await find_users(runtime, "lice") == []  # a prefix, not a substring
    # Wildcards are ordinary characters.
    assert await find_users(runtime, "a_") == ["a_b"]
    assert await find_users(runtime, "al.") == ["al.ex"]
    assert await find_users(runtime, "%") == []
    assert await find_users(runtime, "a%") == []


async def test_people_pages_follow_the_cursor(runtime: Runtime) -> None:
    names = [f"user{index:02d}" for index in range(5)]
    for name in names:
        await make_active_user(runtime, name, f"{name}@example.com")
    seen: list[str] = []
    cursor = None
    async with runtime.db.session() as session:
        while True:
            page = await search.search_users(
                session, "user", viewer_id=None, limit=2, cursor=cursor
            )
            seen.extend(user.username for user in page.users)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == names


@pytest.mark.parametrize("cursor", ["nope", "v1:5", "!!!", "a" * 500, "azE6"])
async def test_bad_name_cursors_are_refused(runtime: Runtime, cursor: str) -> None:
    async with runtime.db.session() as session:
        with pytest.raises(InvalidInput, match="cursor"):
            await search.search_users(session, "a", viewer_id=None, limit=None, cursor=cursor)
        with pytest.raises(InvalidInput, match="cursor"):
            await search.search_tags(session, "a", limit=None, cursor=cursor)


# -- tags ----------------------------------------------------------------------------


async def test_tags_by_their_start_with_counts(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(
        runtime, user_id, "#sun #sunset", "#Sunset #sundae", "#sunset", "#moon", "#sun_set"
    )
    assert await find_tags(runtime, "sun") == [
        ("sun", 1),
        ("sun_set", 1),
        ("sundae", 1),
        ("sunset", 3),
    ]
    assert await find_tags(runtime, "#SUNS") == [("sunset", 3)]
    assert await find_tags(runtime, "ｓｕｎｓ") == [("sunset", 3)]
    assert await find_tags(runtime, "sun_") == [("sun_set", 1)]
    assert await find_tags(runtime, "%") == []
    assert await find_tags(runtime, "unset") == []


async def test_tags_no_photo_carries_are_left_out(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    (image_id,) = await add_described_images(runtime, user_id, "#ephemeral")
    assert await find_tags(runtime, "eph") == [("ephemeral", 1)]
    async with runtime.db.session() as session:
        await session.execute(delete(Image).where(Image.id == image_id))
        await session.commit()
    assert await find_tags(runtime, "eph") == []


async def test_tag_pages_follow_the_cursor(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    await add_described_images(runtime, user_id, " ".join(f"#t{i}x" for i in range(5)))
    seen: list[str] = []
    cursor = None
    async with runtime.db.session() as session:
        while True:
            page = await search.search_tags(session, "t", limit=2, cursor=cursor)
            seen.extend(hit.name for hit in page.tags)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == [f"t{i}x" for i in range(5)]


# -- photos ----------------------------------------------------------------------------


async def test_photos_by_the_words_of_their_description(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    beach, cat, cafe, tokyo, sunset, snake = await add_described_images(
        runtime,
        user_id,
        "Sunset at the beach in Brighton",
        "The cat sat on a mat",
        "Café crème au lait",
        "東京タワーの夜景 #東京",
        "Another #sunset, over the sea",
        "a snake_case caption",
    )
    assert await find_images(runtime, "sunset") == [sunset, beach]  # newest first
    assert await find_images(runtime, "SUNSET") == [sunset, beach]
    assert await find_images(runtime, "sun") == [sunset, beach]  # word starts
    assert await find_images(runtime, "unset") == []  # not the middle of a word
    assert await find_images(runtime, "sunset beach") == [beach]  # every word
    assert await find_images(runtime, "beach moon") == []
    assert await find_images(runtime, "#sunset") == [sunset, beach]  # "#" separates
    assert await find_images(runtime, "brighton's beach") == [beach]
    assert await find_images(runtime, "cat on a mat") == [cat]  # short words: substrings
    assert await find_images(runtime, "the cat") == [cat]  # a stopword on MariaDB
    assert await find_images(runtime, "creme") == [cafe]  # accents folded
    assert await find_images(runtime, "Café") == [cafe]
    assert await find_images(runtime, "夜景") == [tokyo]  # CJK: substrings
    assert await find_images(runtime, "東京") == [tokyo]
    assert await find_images(runtime, "snake_case") == [snake]
    assert await find_images(runtime, "+sunset -beach") == [beach]  # no operators: both words


async def test_photo_results_page_newest_first(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_described_images(runtime, user_id, *(f"lighthouse {i}" for i in range(5)))
    await add_described_images(runtime, user_id, "something else")
    seen: list[int] = []
    cursor = None
    async with runtime.db.session() as session:
        while True:
            page = await search.search_images(
                session, "lighthouse", viewer_id=None, limit=2, cursor=cursor
            )
            seen.extend(card.image.id for card in page.cards)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == sorted(ids, reverse=True)


async def test_the_index_follows_edits_and_deletions(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    (image_id,) = await add_described_images(runtime, user_id, "A red bicycle")
    assert await find_images(runtime, "bicycle") == [image_id]
    async with runtime.db.session() as session:
        await session.execute(
            update(Image).where(Image.id == image_id).values(description="A blue tricycle")
        )
        await session.commit()
    assert await find_images(runtime, "bicycle") == []
    assert await find_images(runtime, "tricycle") == [image_id]
    async with runtime.db.session() as session:
        await session.execute(delete(Image).where(Image.id == image_id))
        await session.commit()
    assert await find_images(runtime, "tricycle") == []


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
async def test_hostile_queries_never_reach_sql_as_text(runtime: Runtime, query: str) -> None:
    user_id = await make_active_user(runtime)
    (plain,) = await add_described_images(runtime, user_id, "plain sun and moon, 東京 🌅 100%")
    await make_active_user(runtime, "bob", "bob@example.com")
    searches = {
        "images": lambda s: search.search_images(s, query, viewer_id=None, limit=None, cursor=None),
        "users": lambda s: search.search_users(s, query, viewer_id=None, limit=None, cursor=None),
        "tags": lambda s: search.search_tags(s, query, limit=None, cursor=None),
    }
    for kind, run in searches.items():
        async with runtime.db.session() as session:
            try:
                page = await run(session)
            except InvalidInput as refusal:
                assert refusal.field == "q", (kind, query)
                continue
        if kind == "images":
            # Whatever matched, matched as words: never "everything".
            assert [card.image.id for card in page.cards] in ([], [plain]), query
        elif kind == "users":
            assert [user.username for user in page.users] in ([], ["alice"], ["bob"]), query


async def test_word_search_uses_the_full_text_index(runtime: Runtime) -> None:
    """InnoDB FULLTEXT on MariaDB, the FTS5 table on SQLite: never a scan of descriptions."""
    from sqlalchemy import text

    async with runtime.db.session() as session:
        if BACKEND == "mariadb":
            plan = (
                await session.execute(
                    text(
                        "EXPLAIN SELECT id FROM images "
                        "WHERE MATCH (description) AGAINST (:q IN BOOLEAN MODE)"
                    ),
                    {"q": "+sun*"},
                )
            ).mappings()
            assert [row["type"] for row in plan] == ["fulltext"]
        else:
            plan = (
                await session.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT rowid FROM images_fts WHERE images_fts MATCH :q"
                    ),
                    {"q": "sun*"},
                )
            ).mappings()
            assert any("VIRTUAL TABLE INDEX" in row["detail"] for row in plan)

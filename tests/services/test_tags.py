"""Hashtags: the parser's rules, tags attached with the image, the tag feeds."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gallery.infra.runtime import Runtime
from gallery.models import Tag, User, image_tags
from gallery.services import images, tags
from gallery.services.errors import NotFoundError, Rejected
from gallery.services.tags import hashtag_spans, parse_hashtags, tag_name_from_input
from tests.helpers import count_rows, counted_statements, make_active_user, tag_names_of
from tests.images import add_image_rows, store_image

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_JS = REPO_ROOT / "src" / "gallery" / "static" / "js" / "shared.js"

# (description, the tags it carries): the rules documented in services/tags.py.
PARSER_CASES = [
    ("", []),
    ("no tags here", []),
    ("#tag", ["tag"]),
    ("#tag.", ["tag"]),
    ("#tag, #other!", ["tag", "other"]),
    ("(#paren) and “#quoted”", ["paren", "quoted"]),
    ("#Tag #tag #TAG", ["tag"]),  # one tag, any case
    ("#b #a #b", ["b", "a"]),  # duplicates collapse, first-seen order
    ("#", []),
    ("##", []),
    ("# tag", []),
    ("##tag", ["tag"]),  # the second "#" follows a "#", which does not glue
    ("#tag#other", ["tag"]),  # the second "#" is glued to "tag"
    ("a#b", []),
    ("C#", []),
    ("x_#y", []),
    ("&#39; &#x27;", []),  # HTML character references
    ("http://x/#top", []),
    ("see https://example.com/page#section now", []),
    ("www.example.com/#top", []),
    ("example.com/#top", []),  # glued to "/"
    ("#東京 と #京都", ["東京", "京都"]),
    ("#東京タワー。", ["東京タワー"]),  # the ideographic full stop ends it
    ("＃東京", ["東京"]),  # the full-width hash starts a tag too
    ("#ｓｅａ", ["sea"]),  # full-width letters fold to ASCII (NFKC)
    ("#Straße #STRASSE", ["strasse"]),  # case folding: ß is ss
    ("#Café #cafe\u0301", ["café"]),  # composed and decomposed é are one
    ("#हिन्दी", ["हिन्दी"]),  # combining vowel signs belong to the word
    ("#2024 #1 #42", []),  # digits only: not a tag
    ("#1st #2024_trip", ["1st", "2024_trip"]),
    ("#_", []),
    ("#snake_case #_lead", ["snake_case", "_lead"]),
    ("#sunset🌅 #🌅", ["sunset"]),  # emoji end a tag and are never one
    ("#" + "a" * 64, ["a" * 64]),
    ("#" + "a" * 65, []),  # too long: ignored, not cut
    ("#½", []),  # folds to "1⁄2": the fraction slash is no tag character
    ("line\n#one\t#two\u3000#three", ["one", "two", "three"]),
    ("nul\x00#tag", ["tag"]),
]


@pytest.mark.parametrize(("text", "expected"), PARSER_CASES)
def test_parse_hashtags(text: str, expected: list[str]) -> None:
    assert parse_hashtags(text) == expected


def test_spans_keep_the_tag_as_written() -> None:
    text = "Sun at #Brighton_Beach, #brighton_beach again"
    spans = hashtag_spans(text)
    assert [text[s.start : s.end] for s in spans] == ["#Brighton_Beach", "#brighton_beach"]
    assert {s.name for s in spans} == {"brighton_beach"}


@pytest.mark.parametrize(
    ("typed", "name"),
    [("sea", "sea"), ("#Sea", "sea"), (" ＃SEA ", "sea"), ("2024", None), ("", None), ("#", None)],
)
def test_tag_names_typed_by_people(typed: str, name: str | None) -> None:
    assert tag_name_from_input(typed) == name


# -- attaching -------------------------------------------------------------------


async def tag_rows(runtime: Runtime, image_ids: list[int], description: str) -> None:
    """Tag image rows as an upload with that description would."""
    async with runtime.db.session() as session:
        for image_id in image_ids:
            await tags.attach_tags(session, image_id, parse_hashtags(description))
        await session.commit()


async def test_an_upload_carries_the_tags_of_its_description(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    first = await store_image(runtime, user_id, "Sunset over #Brighton #sea #SEA")
    second = await store_image(runtime, user_id, "#sea again, and #東京")
    untagged = await store_image(runtime, user_id, "no tags")
    assert await tag_names_of(runtime, first) == ["brighton", "sea"]
    assert await tag_names_of(runtime, second) == ["sea", "東京"]
    assert await tag_names_of(runtime, untagged) == []
    assert await count_rows(runtime, Tag) == 3  # "sea" is one row, reused


async def test_a_refused_upload_leaves_no_tags(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    async with runtime.db.session() as session:
        author = await session.get(User, user_id)
        assert author is not None
        with pytest.raises(Rejected):
            await images.ingest(
                session,
                runtime.storage,
                runtime.redis,
                author=author,
                data=b"not an image",
                description="#lonely",
            )
    assert await count_rows(runtime, Tag) == 0


async def test_concurrent_uploads_create_a_new_tag_once(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    # Names never used before: InnoDB locks differently around the delete-marked
    # index entries that emptying the tables between tests leaves behind (tags
    # themselves are never deleted).
    new = secrets.token_hex(4)
    # Separate sessions (connections), the same brand-new tags in different orders.
    ids = await asyncio.gather(
        *(
            store_image(
                runtime, user_id, f"#a{new} #B{new} #n{index}{new} #z{new}", width=64, height=48
            )
            for index in range(8)
        )
    )
    assert await count_rows(runtime, Tag) == 3 + 8
    for image_id in ids:
        assert {f"a{new}", f"b{new}", f"z{new}"} <= set(await tag_names_of(runtime, image_id))


# -- the tag feed -------------------------------------------------------------------


async def walk_tag(runtime: Runtime, name: str, limit: int) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        async with runtime.db.session() as session:
            page = await tags.tagged_images(
                session, name, viewer_id=None, limit=limit, cursor=cursor
            )
        seen.extend(card.image.id for card in page.cards)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def test_tag_feed_is_newest_first_and_pages(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_image_rows(runtime, user_id, 9)
    tagged = ids[::2]  # 5 of them
    await tag_rows(runtime, tagged, "#sea")
    await tag_rows(runtime, ids[1:3], "#other")
    assert await walk_tag(runtime, "sea", limit=2) == sorted(tagged, reverse=True)
    assert await walk_tag(runtime, "#SEA", limit=10) == sorted(tagged, reverse=True)
    async with runtime.db.session() as session:
        first = await tags.tagged_images(session, "sea", viewer_id=None, limit=5, cursor=None)
        assert first.next_cursor is None
        assert all(card.image.author.username == "alice" for card in first.cards)
        assert await tags.tag_summary(session, "Sea") == tags.TagSummary("sea", 5)


async def test_a_page_of_the_tag_feed_costs_the_same_queries_at_any_length(
    runtime: Runtime,
) -> None:
    user_id = await make_active_user(runtime)
    ids = await add_image_rows(runtime, user_id, 12)
    await tag_rows(runtime, ids, "#many")
    counts = []
    for limit in (2, 12):
        async with runtime.db.session() as session:
            with counted_statements(runtime) as statements:
                page = await tags.tagged_images(
                    session, "many", viewer_id=None, limit=limit, cursor=None
                )
            assert len(page.cards) == limit
            counts.append(len(statements))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(
    "name", ["nobody-used-this", "2024", "", "#", "a" * 300, "%", "' OR 1=1 --"]
)
async def test_unknown_tags_are_not_found(runtime: Runtime, name: str) -> None:
    async with runtime.db.session() as session:
        with pytest.raises(NotFoundError):
            await tags.tagged_images(session, name, viewer_id=None, limit=None, cursor=None)


async def test_deleting_an_image_unlinks_its_tags(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    image_id = await store_image(runtime, user_id, "#gone")
    async with runtime.db.session() as session:
        actor = await session.get(User, user_id)
        assert actor is not None
        await images.delete_image(
            session, runtime.storage, runtime.redis, image_id=image_id, actor=actor
        )
    async with runtime.db.session() as session:
        assert await tags.tag_summary(session, "gone") == tags.TagSummary("gone", 0)
        links = await session.scalar(select(func.count()).select_from(image_tags))
        assert links == 0

"""The benchmark's data: a site with some history, inserted in bulk.

Rows go straight into the tables with multi-row INSERTs (SQLAlchemy core,
executemany in batches), not through the upload pipeline: that would spend
minutes drawing and resizing pictures the benchmark never fetches. The
counters the feeds show (``comment_count``, ``like_count``) are computed from
the very rows inserted, so they agree as the services would keep them.

Every random choice comes from one ``random.Random(seed)``: the same options
give the same site.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from gallery.models import (
    Block,
    Comment,
    Follow,
    Image,
    Like,
    Mute,
    Photo,
    Role,
    Tag,
    User,
    image_tags,
)
from gallery.services.passwords import hash_password
from gallery.services.tags import parse_hashtags

BENCH_USERNAME = "bench"
# Signs in like "bench" and follows the same authors, but mutes BENCH_HIDDEN
# accounts and blocks as many others: the cost of the per-viewer filter on
# shared pages (issue 17: within 15 % of the plain signed-in feed).
HIDER_USERNAME = "bench_hider"
BENCH_HIDDEN = 200
BENCH_PASSWORD = "bench password"  # noqa: S105 - a throwaway account in a throwaway database
BATCH_SIZE = 2000
# The bench user follows this many of the busiest authors, so the following
# feed and the signed-in views have something of theirs to show.
BENCH_FOLLOWS = 20
# Images are spread over this much history, the newest a minute old: the hot
# ranking (last week) and today's top (last day) both find plenty.
HISTORY = timedelta(days=30)

FIRST_NAMES = (
    "ana", "ben", "chloe", "dmitri", "elif", "farid", "greta", "hugo", "ines", "jonas",
    "kaori", "liam", "maya", "nils", "olga", "pablo", "quinn", "rosa", "sami", "tomas",
)  # fmt: skip
ADJECTIVES = (
    "golden", "quiet", "misty", "bright", "old", "wild", "late", "early", "blue", "rainy",
    "frozen", "sunlit",
)  # fmt: skip
SUBJECTS = (
    "harbour", "forest path", "market", "bridge", "lighthouse", "street corner",
    "mountain lake", "garden", "train station", "rooftop", "beach", "cathedral",
)  # fmt: skip
MOMENTS = (
    "at dawn", "after the storm", "on a Sunday morning", "before sunset", "in late autumn",
    "at night", "in the fog", "during the festival",
)  # fmt: skip
AFTERTHOUGHTS = (
    "Shot handheld.", "Thirty seconds of exposure.", "Nobody else around.",
    "My favourite walk.", "Taken from the old tower.", "", "",
)  # fmt: skip
HASHTAGS = (
    "sunset", "sea", "travel", "street", "nature", "portrait", "bw", "city", "mountains",
    "autumn", "winter", "spring", "summer", "film", "night", "architecture", "flowers",
    "dogs", "cats", "food", "bridge", "rain", "fog", "lake",
)  # fmt: skip
PRAISE = ("Lovely", "Beautiful", "Great", "Stunning", "Nice", "Wonderful")
QUALITIES = ("colours", "light", "composition", "shot", "mood", "framing")
ENDINGS = ("!", ", where was this taken?", ". Which lens?", ", well done.", ". Reminds me of home.")
# Display sizes as the pipeline leaves them (longest side 1080); thumbs are 400 wide.
DISPLAY_SIZES = ((1080, 720), (720, 1080), (1080, 810), (810, 1080), (1080, 1080), (1080, 608))
THUMB_SIZE = 400
# Posts of several photos, as on sites that have them: most have one.
PHOTOS_PER_POST = (1, 2, 3, 4, 6, 10)
PHOTOS_PER_POST_WEIGHTS = (80, 8, 5, 3, 2, 2)
# What the pipeline stores for a phone photo (imaging.RESPONSIVE_WIDTHS), and a
# placeholder of the usual length; alt texts on a third of the photos.
VARIANT_WIDTHS = "320,640,1080,2048"
BLURHASH = "LlKBExxaxuxu~qj?RjWCkWj[Rjoe"
PLAIN_NAME = re.compile(r"[A-Za-z0-9_]+")

# asyncmy logs the server's notes as warnings, such as "Can't drop database
# ...; database doesn't exist" after a DROP DATABASE IF EXISTS that had nothing to do.
logging.getLogger("asyncmy").setLevel(logging.ERROR)


@dataclass(frozen=True)
class SiteSize:
    users: int
    images: int
    comments: int
    likes: int
    follows_per_user: tuple[int, int] = (2, 6)
    seed: int = 1


@dataclass
class SeededSite:
    """What the benchmark needs to know about the data it inserted."""

    users: int = 0
    images: int = 0
    comments: int = 0
    likes: int = 0
    follows: int = 0
    mutes: int = 0
    blocks: int = 0
    tags: int = 0
    bench_username: str = BENCH_USERNAME
    hider_username: str = HIDER_USERNAME
    bench_password: str = BENCH_PASSWORD
    busiest_author: str = ""
    busiest_author_images: int = 0
    newest_image_id: int = 0
    seconds: float = 0.0
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)


# -- the database itself -------------------------------------------------------


def database_name(url: str) -> str:
    name = make_url(url).database
    if not name or not PLAIN_NAME.fullmatch(name):
        raise ValueError(f"the bench database must have a plain name, not {name!r}")
    return name


async def recreate_database(url: str) -> None:
    """Drop and create the bench database, empty, in utf8mb4 as production's."""
    name = database_name(url)
    engine = create_async_engine(make_url(url).set(database=""))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            await connection.execute(
                text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )
    finally:
        await engine.dispose()


async def drop_database(url: str) -> None:
    name = database_name(url)
    engine = create_async_engine(make_url(url).set(database=""))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        await engine.dispose()


# -- the rows ------------------------------------------------------------------


def storage_stem(rng: random.Random) -> str:
    """A stem shaped like the storage's (``3f/a2/<32 hex>``); no file behind it."""
    stem = f"{rng.getrandbits(128):032x}"
    return f"{stem[:2]}/{stem[2:4]}/{stem}"


def photo_rows(rng: random.Random, images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each post's photos, in order, with every file key and srcset width a real one has."""
    rows = []
    for image in images:
        count = rng.choices(PHOTOS_PER_POST, weights=PHOTOS_PER_POST_WEIGHTS)[0]
        for position in range(count):
            width, height = rng.choice(DISPLAY_SIZES)
            stem = storage_stem(rng)
            rows.append(
                {
                    "image_id": image["id"],
                    "owner_id": image["author_id"],
                    "created_at": image["created_at"],
                    "position": position,
                    "original_key": f"{stem}_original.jpg",
                    "display_key": f"{stem}_display.jpg",
                    "thumb_key": f"{stem}_thumb.jpg",
                    "width": width,
                    "height": height,
                    "thumb_size": THUMB_SIZE,
                    "alt_text": description(rng) if rng.random() < 0.33 else "",
                    "variant_stem": stem,
                    "variant_widths": VARIANT_WIDTHS,
                    "variant_format": "webp",
                    "variant_has_jpeg": True,
                    "blurhash": BLURHASH,
                }
            )
    return rows


def description(rng: random.Random) -> str:
    words = (
        f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(SUBJECTS)} {rng.choice(MOMENTS)}. "
        f"{rng.choice(AFTERTHOUGHTS)}"
    )
    tags = " ".join(f"#{tag}" for tag in rng.sample(HASHTAGS, rng.randint(0, 3)))
    return f"{words.strip()} {tags}".strip()


def comment_text(rng: random.Random) -> str:
    return f"{rng.choice(PRAISE)} {rng.choice(QUALITIES)}{rng.choice(ENDINGS)}"


def user_rows(size: SiteSize, password_hash: str, start: datetime) -> list[dict[str, Any]]:
    """``size.users`` active users (role user), then the bench users, ids from 1.

    They all share one Argon2 hash: hashing is slow on purpose, and only the
    bench user signs in.
    """
    rows = []
    names = [f"{FIRST_NAMES[n % len(FIRST_NAMES)]}_{n:05d}" for n in range(size.users)]
    for user_id, name in enumerate([*names, BENCH_USERNAME, HIDER_USERNAME], start=1):
        joined = start + timedelta(minutes=user_id)
        rows.append(
            {
                "id": user_id,
                "username": name,
                "username_key": User.key_for(name),
                "email": f"{name}@example.com",
                "email_key": User.key_for(f"{name}@example.com"),
                "password_hash": password_hash,
                "is_active": True,
                "permissions": int(Role.USER),
                "created_at": joined,
                "activated_at": joined,
                # As the services keep it: moved on by each of the hider's mutes.
                "relations_version": 2 * BENCH_HIDDEN if name == HIDER_USERNAME else 0,
            }
        )
    return rows


def relation_rows(
    hider_id: int, others: list[int], start: datetime, *, side: str, other_side: str
) -> list[dict[str, Any]]:
    """The hider mutes or blocks ``others``: authors that fill the feeds, so the filter
    has work (``side``/``other_side``: the columns, muter/muted or blocker/blocked)."""
    return [
        {
            "id": number,
            side: hider_id,
            other_side: author,
            "created_at": start + timedelta(seconds=number),
        }
        for number, author in enumerate(others, start=1)
    ]


def author_weights(users: int) -> list[float]:
    """A long tail, as on real sites: a few people post a lot, most post little."""
    return [1 / (rank + 1) ** 0.8 for rank in range(users)]


def image_rows(
    size: SiteSize, rng: random.Random, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Images with ids and created_at both increasing (newest first = highest id)."""
    authors = rng.choices(
        range(1, size.users + 1), weights=author_weights(size.users), k=size.images
    )
    step = (end - start) / max(size.images, 1)
    rows = []
    for number, author_id in enumerate(authors, start=1):
        rows.append(
            {
                "id": number,
                "author_id": author_id,
                "description": description(rng),
                "created_at": start + step * number,
                "comment_count": 0,
                "like_count": 0,
                "view_count": rng.randint(0, 500),
                "comments_disabled": False,
            }
        )
    return rows


def tag_rows(images: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The tags the descriptions carry (parsed by Gallery's own rules) and who carries them."""
    tag_ids: dict[str, int] = {}
    tags: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for image in images:
        for name in parse_hashtags(image["description"]):
            if name not in tag_ids:
                tag_ids[name] = len(tag_ids) + 1
                tags.append({"id": tag_ids[name], "name": name, "created_at": image["created_at"]})
            links.append({"image_id": image["id"], "tag_id": tag_ids[name]})
    return tags, links


def moment_after(rng: random.Random, moment: datetime, end: datetime) -> datetime:
    """A random time between ``moment`` and three days later, never past ``end``."""
    room = min(end - moment, timedelta(days=3))
    return moment + room * rng.random()


def comment_rows(
    size: SiteSize, rng: random.Random, images: list[dict[str, Any]], end: datetime
) -> list[dict[str, Any]]:
    """Comments on random images by random users, ids in the order they were written."""
    drafts = []
    for _ in range(size.comments):
        image = rng.choice(images)
        drafts.append(
            {
                "image_id": image["id"],
                "author_id": rng.randint(1, size.users),
                "content": comment_text(rng),
                "created_at": moment_after(rng, image["created_at"], end),
            }
        )
    drafts.sort(key=lambda row: row["created_at"])
    return [{"id": number, **row} for number, row in enumerate(drafts, start=1)]


def like_rows(
    size: SiteSize,
    rng: random.Random,
    images: list[dict[str, Any]],
    bench_user_id: int,
    end: datetime,
) -> list[dict[str, Any]]:
    """Unique (user, image) likes; the bench user likes one in five of the newest 500."""
    pairs: set[tuple[int, int]] = {
        (bench_user_id, image["id"]) for image in images[-500:] if rng.random() < 0.2
    }
    wanted = min(size.likes, size.users * len(images))
    while len(pairs) < wanted:
        pairs.add((rng.randint(1, size.users), rng.randint(1, len(images))))
    return [
        {
            "user_id": user_id,
            "image_id": image_id,
            "created_at": moment_after(rng, images[image_id - 1]["created_at"], end),
        }
        for user_id, image_id in sorted(pairs)
    ]


def follow_rows(
    size: SiteSize,
    rng: random.Random,
    busiest_authors: list[int],
    bench_user_id: int,
    start: datetime,
) -> list[dict[str, Any]]:
    """A few follows per user, popular authors more often; never oneself, never twice."""
    weights = author_weights(size.users)
    pairs: list[tuple[int, int]] = []
    for follower in range(1, size.users + 1):
        wanted = rng.randint(*size.follows_per_user)
        chosen = set(rng.choices(range(1, size.users + 1), weights=weights, k=wanted))
        pairs += [(follower, followed) for followed in sorted(chosen - {follower})]
    pairs += [(bench_user_id, author) for author in busiest_authors]
    return [
        {
            "id": number,
            "follower_id": follower,
            "followed_id": followed,
            "created_at": start + timedelta(seconds=number),
        }
        for number, (follower, followed) in enumerate(pairs, start=1)
    ]


def count_into(images: list[dict[str, Any]], column: str, rows: list[dict[str, Any]]) -> None:
    """Set each image's counter from the rows that point at it, as the services keep it."""
    counts = Counter(row["image_id"] for row in rows)
    for image in images:
        image[column] = counts[image["id"]]


def plan_site(size: SiteSize, password_hash: str) -> SeededSite:
    """Every row to insert, decided before touching the database."""
    rng = random.Random(size.seed)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    start = end - HISTORY
    users = user_rows(size, password_hash, start - timedelta(days=365))
    bench_user_id, hider_id = users[-2]["id"], users[-1]["id"]
    images = image_rows(size, rng, start, end)
    photos = photo_rows(rng, images)
    tags, links = tag_rows(images)
    comments = comment_rows(size, rng, images, end)
    likes = like_rows(size, rng, images, bench_user_id, end)
    # The hider likes what bench likes: the two signed-in feeds differ only by the filter.
    likes += [{**row, "user_id": hider_id} for row in likes if row["user_id"] == bench_user_id]
    count_into(images, "comment_count", comments)
    count_into(images, "like_count", likes)
    images_per_author = Counter(image["author_id"] for image in images)
    busiest = [author for author, _ in images_per_author.most_common(BENCH_FOLLOWS)]
    follows = follow_rows(size, rng, busiest, bench_user_id, start)
    follows += [
        {**row, "id": len(follows) + number, "follower_id": hider_id}
        for number, row in enumerate(
            (row for row in follows if row["follower_id"] == bench_user_id), start=1
        )
    ]
    # The busiest authors after the one whose profile is measured (and the ones
    # bench follows, which a block would unfollow): most feed pages hold some.
    ranked = [
        author
        for author, _ in images_per_author.most_common()
        if author not in busiest and author != hider_id
    ][: 2 * BENCH_HIDDEN]
    mutes = relation_rows(
        hider_id, ranked[:BENCH_HIDDEN], start, side="muter_id", other_side="muted_id"
    )
    blocks = relation_rows(
        hider_id, ranked[BENCH_HIDDEN:], start, side="blocker_id", other_side="blocked_id"
    )
    return SeededSite(
        users=len(users),
        images=len(images),
        comments=len(comments),
        likes=len(likes),
        follows=len(follows),
        mutes=len(mutes),
        blocks=len(blocks),
        tags=len(tags),
        busiest_author=users[busiest[0] - 1]["username"],
        busiest_author_images=images_per_author[busiest[0]],
        newest_image_id=images[-1]["id"],
        rows={
            "users": users,
            "tags": tags,
            "images": images,
            "photos": photos,
            "image_tags": links,
            "comments": comments,
            "likes": likes,
            "follows": follows,
            "mutes": mutes,
            "blocks": blocks,
        },
    )


# -- inserting -----------------------------------------------------------------

# In foreign-key order.
TABLES: dict[str, Table] = {
    "users": User.__table__,  # type: ignore[dict-item]
    "tags": Tag.__table__,  # type: ignore[dict-item]
    "images": Image.__table__,  # type: ignore[dict-item]
    "photos": Photo.__table__,  # type: ignore[dict-item]
    "image_tags": image_tags,
    "comments": Comment.__table__,  # type: ignore[dict-item]
    "likes": Like.__table__,  # type: ignore[dict-item]
    "follows": Follow.__table__,  # type: ignore[dict-item]
    "mutes": Mute.__table__,  # type: ignore[dict-item]
    "blocks": Block.__table__,  # type: ignore[dict-item]
}


async def insert_in_batches(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> None:
    for first in range(0, len(rows), BATCH_SIZE):
        await connection.execute(insert(table), rows[first : first + BATCH_SIZE])


async def check_counters(connection: AsyncConnection) -> None:
    """The inserted counters agree with the rows (what the services guarantee)."""
    for column, table in (("comment_count", "comments"), ("like_count", "likes")):
        wrong = await connection.scalar(
            text(
                f"SELECT COUNT(*) FROM images i WHERE i.{column} <> "  # noqa: S608 - constants
                f"(SELECT COUNT(*) FROM {table} t WHERE t.image_id = i.id)"
            )
        )
        if wrong:
            raise AssertionError(f"{wrong} images have a wrong {column}")


async def seed_site(url: str, size: SiteSize) -> SeededSite:
    """Insert the planned site into the (migrated, empty) database at ``url``."""
    began = time.perf_counter()
    site = plan_site(size, await hash_password(BENCH_PASSWORD))
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for name, table in TABLES.items():
                await insert_in_batches(connection, table, site.rows[name])
            await check_counters(connection)
            users = await connection.scalar(select(func.count()).select_from(TABLES["users"]))
            assert users == site.users
    finally:
        await engine.dispose()
    site.rows.clear()
    site.seconds = time.perf_counter() - began
    return site

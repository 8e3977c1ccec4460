"""The fake-data generator behind ``gallery forge``, called directly on a real database."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime

import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from gallery.devtools import forge
from gallery.infra.runtime import Runtime
from gallery.models import Comment, Follow, Image, Like, Role, User
from gallery.services.accounts import AccountError, check_username
from gallery.services.errors import InvalidInput
from gallery.services.feeds import FEED_VERSION_KEY
from gallery.services.passwords import verify_password
from gallery.settings import Settings
from tests.images import stored_files


async def test_forge_stores_users_images_and_comments(runtime: Runtime, settings: Settings) -> None:
    assert runtime.redis is not None
    report = await forge.forge(
        runtime.db,
        runtime.storage,
        runtime.redis,
        users=3,
        images=5,
        comments=4,
        likes=7,
        follows=4,
        seed=11,
    )
    assert (len(report.usernames), report.images, report.comments) == (3, 5, 4)
    assert (report.likes, report.follows) == (7, 4)
    assert report.password == forge.DEFAULT_PASSWORD

    async with runtime.db.session() as session:
        users = list(await session.scalars(select(User).order_by(User.id)))
        images = list(await session.scalars(select(Image).order_by(Image.id)))
        comments = list(await session.scalars(select(Comment)))
    assert [user.username for user in users] == report.usernames
    for user in users:
        assert check_username(user.username) == user.username
        assert user.is_active and user.activated_at is not None
        assert user.permissions == Role.USER
        assert user.email == f"{user.username.lower()}@example.com"
    # One hash, made once, shared by every forged user.
    assert len({user.password_hash for user in users}) == 1
    assert await verify_password(users[0].password_hash, forge.DEFAULT_PASSWORD)

    user_ids = {user.id for user in users}
    assert len(images) == 5
    stored = set(await stored_files(runtime))
    for image in images:
        assert image.author_id in user_ids
        for key in image.storage_keys:
            assert key in stored, key
    assert len(comments) == 4
    assert {comment.author_id for comment in comments} <= user_ids
    per_image = {image.id: 0 for image in images}
    for comment in comments:
        per_image[comment.image_id] += 1
    assert {image.id: image.comment_count for image in images} == per_image
    async with runtime.db.session() as session:
        likes = list(await session.execute(select(Like.user_id, Like.image_id)))
        follows = list(await session.execute(select(Follow.follower_id, Follow.followed_id)))
        images = list(await session.scalars(select(Image).order_by(Image.id)))
    assert len(likes) == 7 and {user for user, _ in likes} <= user_ids
    per_image = {image.id: 0 for image in images}
    for _, image_id in likes:
        per_image[image_id] += 1
    assert {image.id: image.like_count for image in images} == per_image
    assert len(follows) == 4 and all(a != b for a, b in follows)
    # The feeds were told: ingest and add_comment bumped the version.
    assert await runtime.redis.get(FEED_VERSION_KEY) is not None


async def test_forged_usernames_avoid_existing_names_and_addresses(runtime: Runtime) -> None:
    seed = 5
    draws = random.Random(seed)
    first = [forge.make_username(draws) for _ in range(2)]
    assert len({User.key_for(name) for name in first}) == 2
    async with runtime.db.session() as session:
        for username, email in (
            (first[0].upper(), "someone@example.org"),  # the same name in another case
            ("someone_else", f"{first[1]}@example.com"),  # the address forge would use
        ):
            session.add(
                User(
                    username=username,
                    username_key=User.key_for(username),
                    email=email,
                    email_key=User.key_for(email),
                    password_hash="x",
                    is_active=True,
                    activated_at=datetime.now(UTC),
                )
            )
        await session.commit()

    report = await forge.forge(
        runtime.db, runtime.storage, runtime.redis, users=2, images=0, comments=0, seed=seed
    )
    assert len(report.usernames) == 2
    assert not {User.key_for(name) for name in report.usernames} & {
        User.key_for(name) for name in first
    }
    async with runtime.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 4


async def test_forge_without_users_posts_as_existing_ones(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput, match="no activated users"):
        await forge.forge(runtime.db, runtime.storage, runtime.redis, users=0, images=1)
    with pytest.raises(AccountError, match="at least 8"):
        await forge.forge(runtime.db, runtime.storage, runtime.redis, password="short")

    first = await forge.forge(
        runtime.db, runtime.storage, runtime.redis, users=1, images=1, comments=0
    )
    again = await forge.forge(
        runtime.db, runtime.storage, runtime.redis, users=0, images=0, comments=2
    )
    assert (again.usernames, again.images, again.comments) == ([], 0, 2)
    async with runtime.db.session() as session:
        image = await session.scalar(select(Image))
        authors = set(await session.scalars(select(Comment.author_id)))
    assert image is not None and image.comment_count == 2
    assert len(first.usernames) == 1 and len(authors) == 1


def test_every_scene_draws_a_photo_sized_jpeg_and_a_seed_repeats_it() -> None:
    for kind in forge.SCENE_KINDS:
        data = forge.render_photo(kind, 42)
        with PILImage.open(io.BytesIO(data)) as picture:
            assert picture.format == "JPEG", kind
            assert picture.size in forge.SIZES, kind
    assert forge.render_photo("mountains", 7) == forge.render_photo("mountains", 7)
    assert forge.plan_images(random.Random(3), [1, 2], 4) == forge.plan_images(
        random.Random(3), [1, 2], 4
    )
    descriptions = [forge.make_description(random.Random(n), "sea") for n in range(40)]
    assert any("#" in text for text in descriptions)
    assert any(text and "#" not in text for text in descriptions)

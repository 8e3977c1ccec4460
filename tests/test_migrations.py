"""`alembic upgrade head` gives exactly the schema the models describe, and downgrades work."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from gallery.cli import find_project_file
from gallery.infra.db import make_engine
from gallery.models import Base
from gallery.models.search import schema_filters
from tests.conftest import BACKEND, _drop_mariadb_database, _recreate_mariadb_database


def alembic_config(database_url: str) -> Config:
    ini = find_project_file("alembic.ini")
    assert ini is not None
    config = Config(str(ini))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def schema_differences(database_url: str) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                # As alembic/env.py: SQLite's FTS5 tables are not models.
                **schema_filters(connection.dialect.name),
            },
        )
        return list(compare_metadata(context, Base.metadata))

    async def run() -> list[Any]:
        engine = make_engine(database_url)
        async with engine.connect() as connection:
            differences = await connection.run_sync(compare)
        await engine.dispose()
        return differences

    return asyncio.run(run())


def table_names(database_url: str) -> set[str]:
    async def run() -> set[str]:
        engine = make_engine(database_url)
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        await engine.dispose()
        return names

    return asyncio.run(run())


@pytest.fixture
def scratch_database_url(tmp_path: Path, backend: dict[str, object]) -> Any:
    """An empty database of the back-end under test."""
    if BACKEND == "mariadb":
        url = make_url(str(backend["database_url"]))
        scratch = url.set(database=f"{url.database}_migrations").render_as_string(
            hide_password=False
        )
        asyncio.run(_recreate_mariadb_database(scratch))
        yield scratch
        asyncio.run(_drop_mariadb_database(scratch))
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"


def test_upgrade_head_on_an_empty_database_matches_the_models(scratch_database_url: str) -> None:
    command.upgrade(alembic_config(scratch_database_url), "head")
    assert schema_differences(scratch_database_url) == []
    assert {t.name for t in Base.metadata.sorted_tables} <= table_names(scratch_database_url)


def test_downgrade_to_base_and_back(scratch_database_url: str) -> None:
    config = alembic_config(scratch_database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert table_names(scratch_database_url) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert schema_differences(scratch_database_url) == []


# -- data migrations ----------------------------------------------------------

BEFORE_POSTS = "5a1c0e7d9b42"

# A small site as it stood before posts had several photos: two people, three
# images (one with two hashtags), comments, likes, views, reports and notices.
SITE_BEFORE_POSTS = [
    "INSERT INTO users (id, username, username_key, email, email_key, password_hash, is_active,"
    " permissions, created_at) VALUES"
    " (1, 'alice', 'alice', 'alice@example.com', 'alice@example.com', 'x', 1, 7,"
    " '2026-11-01 10:00:00'),"
    " (2, 'bob', 'bob', 'bob@example.com', 'bob@example.com', 'x', 1, 7, '2026-11-01 10:00:00')",
    "INSERT INTO images (id, author_id, original_key, display_key, thumb_key, width, height,"
    " thumb_size, description, created_at, comment_count, like_count, view_count,"
    " comments_disabled) VALUES"
    " (11, 1, 'aa/o1.jpg', 'aa/d1.jpg', 'aa/t1.jpg', 1080, 720, 400, 'Sea #blue #summer',"
    " '2026-11-02 10:00:00', 2, 2, 17, 0),"
    " (12, 1, 'bb/o2.png', 'bb/d2.png', 'bb/t2.png', 640, 960, 400, '',"
    " '2026-11-03 10:00:00', 0, 1, 3, 1),"
    " (13, 2, 'cc/o3.jpg', 'cc/d3.jpg', 'cc/t3.jpg', 800, 800, 400, 'Mine',"
    " '2026-11-04 10:00:00', 1, 0, 0, 0)",
    "INSERT INTO comments (id, image_id, author_id, content, created_at) VALUES"
    " (21, 11, 2, 'Lovely', '2026-11-02 11:00:00'), (22, 11, 1, 'Thanks', '2026-11-02 12:00:00'),"
    " (23, 13, 1, 'Nice', '2026-11-04 11:00:00')",
    "INSERT INTO likes (user_id, image_id, created_at) VALUES"
    " (2, 11, '2026-11-02 11:00:00'), (1, 11, '2026-11-02 11:30:00'),"
    " (2, 12, '2026-11-03 11:00:00')",
    "INSERT INTO tags (id, name, created_at) VALUES"
    " (31, 'blue', '2026-11-02 10:00:00'), (32, 'summer', '2026-11-02 10:00:00')",
    "INSERT INTO image_tags (image_id, tag_id) VALUES (11, 31), (11, 32)",
    "INSERT INTO reports (id, reporter_id, image_id, comment_id, reason, created_at, open_key)"
    " VALUES (41, 2, 12, NULL, 'spam', '2026-11-03 12:00:00', 'image:12:2'),"
    " (42, 2, NULL, 22, 'rude', '2026-11-03 12:00:00', 'comment:22:2')",
    "INSERT INTO notifications (id, recipient_id, actor_id, kind, image_id, comment_id,"
    " created_at) VALUES (51, 1, 2, 'like', 11, NULL, '2026-11-02 11:00:00'),"
    " (52, 1, 2, 'comment', 11, 21, '2026-11-02 11:00:00'),"
    " (53, 2, 1, 'follow', NULL, NULL, '2026-11-02 11:00:00')",
]

# What must come through the migration unchanged.
KEPT_ROWS = {
    "images": "SELECT id, author_id, description, comment_count, like_count, view_count,"
    " comments_disabled FROM images ORDER BY id",
    "comments": "SELECT id, image_id, author_id, content FROM comments ORDER BY id",
    "likes": "SELECT user_id, image_id FROM likes ORDER BY user_id, image_id",
    "image_tags": "SELECT image_id, tag_id FROM image_tags ORDER BY image_id, tag_id",
    "reports": "SELECT id, image_id, comment_id, reason FROM reports ORDER BY id",
    "notifications": "SELECT id, kind, image_id, comment_id FROM notifications ORDER BY id",
}


def run_sql(database_url: str, *statements: str) -> list[list[tuple[Any, ...]]]:
    """Each statement's rows (none for writes), in one committed transaction."""

    async def run() -> list[list[tuple[Any, ...]]]:
        engine = make_engine(database_url)
        results: list[list[tuple[Any, ...]]] = []
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                results.append([tuple(row) for row in result] if result.returns_rows else [])
        await engine.dispose()
        return results

    return asyncio.run(run())


def test_every_image_becomes_a_post_of_one_photo_and_keeps_everything(
    scratch_database_url: str,
) -> None:
    config = alembic_config(scratch_database_url)
    command.upgrade(config, BEFORE_POSTS)
    run_sql(scratch_database_url, *SITE_BEFORE_POSTS)
    before = run_sql(scratch_database_url, *KEPT_ROWS.values())

    command.upgrade(config, "head")

    assert run_sql(scratch_database_url, *KEPT_ROWS.values()) == before
    [photos] = run_sql(
        scratch_database_url,
        "SELECT image_id, owner_id, position, original_key, display_key, thumb_key, width,"
        " height, thumb_size, alt_text, variant_widths, blurhash FROM photos ORDER BY image_id",
    )
    # No responsive variants nor placeholder for them: pages fall back to the display file.
    assert photos == [
        (11, 1, 0, "aa/o1.jpg", "aa/d1.jpg", "aa/t1.jpg", 1080, 720, 400, "", "", None),
        (12, 1, 0, "bb/o2.png", "bb/d2.png", "bb/t2.png", 640, 960, 400, "", "", None),
        (13, 2, 0, "cc/o3.jpg", "cc/d3.jpg", "cc/t3.jpg", 800, 800, 400, "", "", None),
    ]
    assert schema_differences(scratch_database_url) == []
    if scratch_database_url.startswith("sqlite"):
        # Dropping the columns in place left the full-text index's triggers be.
        [triggers] = run_sql(
            scratch_database_url,
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'images'",
        )
        assert len(triggers) == 3


def test_going_back_before_posts_keeps_each_posts_first_photo(scratch_database_url: str) -> None:
    config = alembic_config(scratch_database_url)
    command.upgrade(config, BEFORE_POSTS)
    run_sql(scratch_database_url, *SITE_BEFORE_POSTS)
    command.upgrade(config, "head")
    run_sql(
        scratch_database_url,
        "INSERT INTO photos (image_id, owner_id, created_at, position, original_key,"
        " display_key, thumb_key, width, height, thumb_size, alt_text, variant_stem,"
        " variant_widths, variant_format, variant_has_jpeg) VALUES"
        " (11, 1, '2026-11-05 10:00:00', 1, 'dd/o.jpg', 'dd/d.jpg', 'dd/t.jpg', 10, 10, 10,"
        " 'second', 'dd/x', '10', 'webp', 1)",
    )

    command.downgrade(config, BEFORE_POSTS)

    [files] = run_sql(
        scratch_database_url,
        "SELECT id, original_key, display_key, thumb_key, width, height, thumb_size"
        " FROM images ORDER BY id",
    )
    assert files == [
        (11, "aa/o1.jpg", "aa/d1.jpg", "aa/t1.jpg", 1080, 720, 400),
        (12, "bb/o2.png", "bb/d2.png", "bb/t2.png", 640, 960, 400),
        (13, "cc/o3.jpg", "cc/d3.jpg", "cc/t3.jpg", 800, 800, 400),
    ]
    assert "photos" not in table_names(scratch_database_url)

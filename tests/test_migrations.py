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
from sqlalchemy import inspect
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

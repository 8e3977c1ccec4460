"""The harness itself: each fixture does what the drills will rely on."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.faults.conftest import DrillGallery, PrivateMariaDB, PrivateRedis


async def test_gallery_runs_in_production_shape_on_the_private_servers(
    drill_gallery: DrillGallery, private_mariadb: PrivateMariaDB, private_redis: PrivateRedis
) -> None:
    async with httpx.AsyncClient(base_url=drill_gallery.url, timeout=10.0) as client:
        assert (await client.get("/api/v1/feed")).status_code == 200
        missing = await client.get("/no-such-page")
    assert missing.status_code == 404
    assert "Traceback" not in missing.text  # production
    workers = drill_gallery.worker_pids()
    assert len(workers) == 2
    assert all(drill_gallery.rss_of(pid) > 10 * 1024 * 1024 for pid in workers)
    assert "[gallery.serving]" in drill_gallery.log
    assert str(private_mariadb.port) in str(drill_gallery.env["GALLERY_DATABASE_URL"])
    assert drill_gallery.env["GALLERY_REDIS_URL"] == private_redis.url


async def test_private_redis_keeps_its_data_across_a_restart_and_can_hang(
    private_redis: PrivateRedis,
) -> None:
    client = Redis.from_url(private_redis.url)
    await client.set("kept", "yes")
    await client.aclose()
    await private_redis.stop()
    await private_redis.start()

    client = Redis.from_url(private_redis.url, socket_timeout=0.5)
    assert await client.get("kept") == b"yes"
    private_redis.freeze()
    with pytest.raises(Exception, match="Timeout"):
        await client.get("kept")
    private_redis.thaw()
    await client.aclose()
    client = Redis.from_url(private_redis.url)
    assert await client.get("kept") == b"yes"
    await client.aclose()


async def test_private_mariadb_restarts_on_the_same_data(private_mariadb: PrivateMariaDB) -> None:
    async def revision() -> str:
        engine = create_async_engine(private_mariadb.url)
        try:
            async with engine.connect() as connection:
                found = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        finally:
            await engine.dispose()
        return str(found)

    before = await revision()
    await private_mariadb.stop()
    with pytest.raises(Exception):  # noqa: B017 - refused: any driver error will do
        await asyncio.wait_for(private_mariadb.ping(), 5)
    await private_mariadb.start()
    assert await revision() == before

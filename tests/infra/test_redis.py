"""The embedded Redis server of the default set-up."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gallery.infra.redis import EmbeddedRedis, connect


@pytest.fixture
async def embedded() -> AsyncIterator[EmbeddedRedis]:
    folder = Path(tempfile.mkdtemp(prefix="galr-", dir="/tmp"))
    server = EmbeddedRedis(folder)
    yield server
    await server.stop()
    shutil.rmtree(folder, ignore_errors=True)


async def test_processes_starting_at_once_share_one_server(embedded: EmbeddedRedis) -> None:
    # Same folder, separate objects: as separate Hypercorn workers would be.
    others = [EmbeddedRedis(embedded.directory.parent) for _ in range(3)]
    started = await asyncio.gather(embedded.ensure_running(), *(o.ensure_running() for o in others))
    assert sorted(started) == [False, False, False, True]
    client = connect(embedded.url)
    try:
        assert await client.ping()
        info = await client.info("clients")
        assert info["connected_clients"] >= 1
    finally:
        await client.aclose()
    assert len(list(embedded.directory.glob("redis.pid"))) == 1


async def test_data_survives_a_restart(embedded: EmbeddedRedis) -> None:
    await embedded.ensure_running()
    client = connect(embedded.url)
    await client.set("auth:example", "kept", ex=3600)
    await client.aclose()
    await embedded.stop()
    assert not await embedded.is_running()
    assert await embedded.ensure_running() is True
    client = connect(embedded.url)
    try:
        assert await client.get("auth:example") == "kept"
    finally:
        await client.aclose()


def test_too_long_instance_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="too long for a unix socket"):
        EmbeddedRedis(tmp_path / ("x" * 120))

"""The Redis client through a server's accidents: restarted, stopped, frozen.

Each test runs a private ``redis-server`` (``private_redis``) on a port of its
own and really stops, restarts or freezes it (SIGSTOP): the shared server of
the test session is never touched.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gallery.infra.redis import RedisUnavailable, connect, is_unavailable
from tests.private_servers import PrivateRedis


async def burst(client: object, count: int = 40) -> list[BaseException | None]:
    """``count`` concurrent SETs; each one's error, or None."""
    results = await asyncio.gather(
        *(client.set(f"key:{i}", i) for i in range(count)),  # type: ignore[attr-defined]
        return_exceptions=True,
    )
    return [result if isinstance(result, BaseException) else None for result in results]


async def test_a_restarted_redis_costs_no_command_an_error(private_redis: PrivateRedis) -> None:
    client = connect(private_redis.url)
    try:
        assert await burst(client) == [None] * 40  # 40 pooled connections, all open
        await private_redis.stop()
        await private_redis.start()
        # Every pooled connection is stale now: each is reconnected and retried.
        assert await burst(client) == [None] * 40
        assert await client.get("key:7") == "7"  # and the data was kept
    finally:
        await client.aclose()


async def test_a_stopped_redis_fails_at_once_and_recovers_by_itself(
    private_redis: PrivateRedis,
) -> None:
    client = connect(private_redis.url, circuit_open_seconds=0.5)
    try:
        assert await client.ping()
        await private_redis.stop()
        errors = await burst(client)
        assert all(isinstance(error, RedisConnectionError) for error in errors)
        assert all(error is not None and is_unavailable(error) for error in errors)
        # The circuit is open: commands now fail without trying the private_redis.
        with pytest.raises(RedisUnavailable):
            await client.get("key:1")
        await private_redis.start()
        for _ in range(100):  # the next probe after the open interval closes it
            try:
                assert await client.ping()
                break
            except RedisUnavailable:
                await asyncio.sleep(0.1)
        assert await burst(client) == [None] * 40
    finally:
        await client.aclose()


async def test_a_frozen_redis_times_out_then_fails_at_once(private_redis: PrivateRedis) -> None:
    client = connect(private_redis.url, socket_timeout=0.5, circuit_open_seconds=0.5)
    try:
        assert await client.ping()
        private_redis.freeze()
        with pytest.raises(RedisTimeoutError):
            await client.get("key:1")  # waits one socket timeout, not redis-py's five
        with pytest.raises(RedisUnavailable):
            await client.get("key:1")  # the next one does not wait at all
        private_redis.thaw()
        for _ in range(100):
            try:
                assert await client.ping()
                break
            except (RedisUnavailable, RedisTimeoutError):
                await asyncio.sleep(0.1)
        assert await client.set("after", "thaw")
    finally:
        await client.aclose()

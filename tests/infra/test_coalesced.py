"""Shared reads of a hot key: one GET for the callers of a moment, never an old answer."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from gallery.infra.coalesced import CoalescedReads
from gallery.infra.redis import connect
from gallery.infra.runtime import Runtime
from tests.private_servers import PrivateRedis


async def get_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_callers_of_one_moment_share_one_get(private_redis: PrivateRedis) -> None:
    # A server of the test's own: the shared one counts everybody's GETs.
    redis = connect(private_redis.url)
    try:
        await redis.set("hot", "7")
        reader = CoalescedReads(redis)
        before = await get_calls(redis)
        answers = await asyncio.gather(*(reader.get("hot") for _ in range(50)))
        assert answers == ["7"] * 50
        assert await get_calls(redis) - before == 1
    finally:
        await redis.aclose()


async def test_a_caller_after_a_change_never_joins_an_older_read(runtime: Runtime) -> None:
    """A read already sent may predate the change; who asks after the change waits for a new one."""
    assert runtime.redis is not None
    await runtime.redis.set("hot", "old")
    reader = CoalescedReads(runtime.redis)
    early = asyncio.create_task(reader.get("hot"))
    await asyncio.sleep(0)  # the early read goes out
    await runtime.redis.set("hot", "new")  # a writer's bump, committed and acknowledged
    assert await reader.get("hot") == "new"
    assert await early in ("old", "new")


async def test_a_cancelled_caller_leaves_the_others_their_answer(runtime: Runtime) -> None:
    assert runtime.redis is not None
    await runtime.redis.set("hot", "1")
    reader = CoalescedReads(runtime.redis)
    leaving = asyncio.create_task(reader.get("hot"))
    staying = asyncio.create_task(reader.get("hot"))
    await asyncio.sleep(0)
    leaving.cancel()
    assert await staying == "1"
    assert await reader.get("missing") is None

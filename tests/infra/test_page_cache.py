"""The page cache on its own: layers, single flight, hang-ups and failures."""

from __future__ import annotations

import asyncio

import pytest

from gallery.infra.page_cache import KEY_PREFIX, PageCache
from gallery.infra.runtime import Runtime


async def test_pages_come_from_memory_then_redis_then_the_builder(runtime: Runtime) -> None:
    assert runtime.redis is not None
    builds = 0

    async def build() -> dict[str, object]:
        nonlocal builds
        builds += 1
        return {"items": [{"id": 1, "text": "é"}], "next_cursor": None}

    first = PageCache(runtime.redis)
    page = await first.get_or_build("k", build)
    assert page.data == {"items": [{"id": 1, "text": "é"}], "next_cursor": None}
    assert await first.get_or_build("k", build) is page  # this process's memory
    other_process = PageCache(runtime.redis)
    shared = await other_process.get_or_build("k", build)  # from Redis
    assert (shared.data, shared.body) == (page.data, page.body)
    assert builds == 1
    assert await runtime.redis.ttl(KEY_PREFIX + "k") > 0  # Redis forgets unused pages


async def test_a_waiter_that_hangs_up_does_not_cancel_the_build(runtime: Runtime) -> None:
    assert runtime.redis is not None
    release = asyncio.Event()
    builds = 0

    async def slow_build() -> list[int]:
        nonlocal builds
        builds += 1
        await release.wait()
        return [1, 2, 3]

    cache = PageCache(runtime.redis)
    leaving = asyncio.create_task(cache.get_or_build("slow", slow_build))
    staying = asyncio.create_task(cache.get_or_build("slow", slow_build))
    await asyncio.sleep(0.05)
    leaving.cancel()  # as Quart cancels a request whose client went away
    with pytest.raises(asyncio.CancelledError):
        await leaving
    release.set()
    assert (await staying).data == [1, 2, 3]
    assert builds == 1


async def test_a_failed_build_reaches_every_waiter_and_is_not_kept(runtime: Runtime) -> None:
    assert runtime.redis is not None
    attempts = 0

    async def failing() -> None:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.01)
        raise LookupError("no such user")

    cache = PageCache(runtime.redis)
    results = await asyncio.gather(
        cache.get_or_build("bad", failing),
        cache.get_or_build("bad", failing),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [LookupError, LookupError]
    assert attempts == 1
    assert await runtime.redis.get(KEY_PREFIX + "bad") is None
    with pytest.raises(LookupError):
        await cache.get_or_build("bad", failing)
    assert attempts == 2


async def test_memory_holds_a_bounded_number_of_pages(runtime: Runtime) -> None:
    assert runtime.redis is not None
    cache = PageCache(runtime.redis, local_entries=2)

    async def build() -> int:
        return 7

    for key in ("a", "b", "c"):
        await cache.get_or_build(key, build)
    assert cache.local.keys() == ["b", "c"]

"""Reads of a hot Redis key shared by the requests that ask for it in the same moment.

Every feed request and every poll starts by reading the feed version: under a
thousand pollers that one GET was the largest single cost left on the request
path. Requests that ask while a read is *waiting to be sent* share it; a
request that arrives after the read went out waits for the next one.

That rule keeps the answers exact: a shared read is always sent after every
request that uses it began, so it can never return a version older than one
that was current when the request arrived (a change committed and bumped before
then is seen, exactly as with a GET of its own).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import redis.asyncio as aioredis


class CoalescedReads:
    """``GET`` through one Redis client, one command per key and turn of the event loop."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._waiting: dict[str, asyncio.Future[Any]] = {}

    async def get(self, key: str) -> Any:
        future = self._waiting.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._waiting[key] = future
            # Sent on the loop's next turn: whoever asks until then shares it.
            loop.call_soon(self._send, key, future)
        # A caller that is cancelled must not cancel the others' answer.
        return await asyncio.shield(future)

    def _send(self, key: str, future: asyncio.Future[Any]) -> None:
        del self._waiting[key]  # from now on, callers wait for a read of their own
        read = asyncio.ensure_future(self.redis.get(key))
        read.add_done_callback(lambda done: _settle(future, done))


def _settle(future: asyncio.Future[Any], read: asyncio.Future[Any]) -> None:
    if future.cancelled():
        return
    if read.cancelled():
        future.cancel()
    elif (error := read.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(read.result())


_readers: weakref.WeakKeyDictionary[aioredis.Redis, CoalescedReads] = weakref.WeakKeyDictionary()


def coalesced(redis: aioredis.Redis) -> CoalescedReads:
    """The shared reader of this Redis client (one per client, so per process)."""
    reader = _readers.get(redis)
    if reader is None:
        reader = _readers[redis] = CoalescedReads(redis)
    return reader

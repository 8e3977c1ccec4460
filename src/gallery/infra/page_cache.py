"""A cache of built JSON pages shared by every process (Redis) with a small LRU in front.

Feeds are polled far more often than they change. A page is built once per
*version* of what it shows and then served, by every worker and to every
viewer, from here: a lookup in this process's memory, or one Redis GET when
another process built it. Keys carry the version, so a change never has to
find and delete old entries: it moves the version on and old keys are simply
never asked for again (the LRU drops them; Redis lets them expire).

Concurrent misses for one key in a process share a single build ("single
flight"), so a version change under a thousand pollers costs one set of
queries per process, not a thousand. The build runs in a task of its own and
is shielded from the requests waiting for it: a client that hangs up does not
cancel the work the others are waiting on.

This module knows neither Quart nor the models: it stores what a ``build``
returns (anything orjson can encode) and hands back the parsed structure and
its encoding together, so responses can send the bytes as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gallery.infra.redis import is_unavailable
from gallery.infra.single_flight import SingleFlightLRU

log = logging.getLogger(__name__)

# Pages kept in each process's memory. A feed page is 5–30 KB of JSON plus its
# parsed form, so this bounds the layer to a few tens of MB per worker.
LOCAL_ENTRIES = 256
# How long Redis keeps a page that nobody asks for any more.
REDIS_TTL_SECONDS = 300
KEY_PREFIX = "page:"


@dataclass(frozen=True, slots=True)
class CachedPage:
    """A built page: ``data`` (shared by every request: never mutate it) and its JSON."""

    data: Any
    body: bytes
    key: str = ""  # what it is cached under (the version included)


class PageCache:
    """Built pages by key: this process's LRU first, then Redis, then ``build()``."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        local_entries: int = LOCAL_ENTRIES,
        ttl_seconds: int = REDIS_TTL_SECONDS,
    ) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self.local = SingleFlightLRU[CachedPage](local_entries)
        # Pages as one viewer sees them (their likes laid on): this process only,
        # apart so that many viewers never push the shared pages out.
        self._personal = SingleFlightLRU[CachedPage](local_entries)

    async def get_or_build(self, key: str, build: Callable[[], Awaitable[Any]]) -> CachedPage:
        """The page under ``key``, building (and sharing) it with ``build()`` if nobody has.

        ``build`` must not depend on the request that happens to run it (it may
        finish after that request is gone): it opens its own database session.
        Its exceptions reach every waiter and nothing is cached for them.
        """
        return await self.local.get_or_build(key, lambda: self._load(key, build))

    def peek(self, key: str) -> CachedPage | None:
        """The page if this process holds it; never waits, never builds."""
        return self.local.peek(key)

    def personal(self, key: str) -> CachedPage | None:
        return self._personal.peek(key)

    def keep_personal(self, key: str, page: CachedPage) -> None:
        self._personal.put(key, page)

    async def _load(self, key: str, build: Callable[[], Awaitable[Any]]) -> CachedPage:
        redis_key = KEY_PREFIX + key
        try:
            stored = await self.redis.get(redis_key)
        except RedisError as error:
            # The cache is an optimisation: without Redis, build from the database.
            # An outage is logged once where it is detected, not for every page.
            log.log(
                logging.DEBUG if is_unavailable(error) else logging.WARNING,
                "Page cache read failed for %s; building it",
                key,
                exc_info=not is_unavailable(error),
            )
            stored = None
        if stored is not None:
            body = stored.encode() if isinstance(stored, str) else bytes(stored)
            return CachedPage(data=orjson.loads(body), body=body, key=key)
        body = orjson.dumps(await build())
        try:
            await self.redis.set(redis_key, body, ex=self.ttl_seconds)
        except RedisError as error:
            if not is_unavailable(error):
                log.warning("Page cache write failed for %s", key, exc_info=True)
        # Parsed back, so a page is the same plain structure whoever built it.
        return CachedPage(data=orjson.loads(body), body=body, key=key)

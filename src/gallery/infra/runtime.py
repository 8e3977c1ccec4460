"""The app's connections to the outside world, started and stopped with it.

Plain objects only: the web layer reaches them through ``gallery.web.resources``,
the CLI and the worker hold a ``Runtime`` directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gallery.infra import db as db_infra
from gallery.infra import redis as redis_infra
from gallery.infra.db import Database
from gallery.infra.live import LiveHub
from gallery.infra.sessions import SignInStore
from gallery.infra.storage import Storage, make_export_storage, make_storage
from gallery.settings import Settings

log = logging.getLogger(__name__)

# Builds are single-flight per page and process, so a few connections serve them.
PAGE_BUILD_POOL_SIZE = 2
# How long a starting process waits for Redis before it starts without it.
STARTUP_REDIS_WAIT_SECONDS = 5.0

# A loop that runs until the event is set, then finishes its round.
BackgroundJob = Callable[["Runtime", asyncio.Event], Coroutine[Any, Any, None]]


@dataclass
class Runtime:
    """Everything a request, the CLI or the worker needs from the outside world."""

    settings: Settings
    db: Database
    storage: Storage
    # Where data exports go: apart from the media, which are served by URL.
    export_storage: Storage
    redis: aioredis.Redis | None = None
    sign_ins: SignInStore | None = None
    # This process's one Redis subscription for live sockets (when live updates are on).
    live: LiveHub | None = None
    # A small pool of its own for building shared feed pages. A request that
    # holds a connection (its viewer, its profile) waits for the build; were
    # builds to draw on the same pool, a burst of such requests could hold
    # every connection while each waits for one more.
    page_build_db: Database | None = None
    # What runs beside the requests when ``run_worker`` is on, and alone in
    # ``gallery worker``: handed in by the app factory and the CLI (see
    # gallery.jobs), because the jobs are services and infra imports none.
    background_jobs: Sequence[BackgroundJob] = ()
    _stop_background: asyncio.Event = field(default_factory=asyncio.Event)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def from_settings(
        cls, settings: Settings, background_jobs: Sequence[BackgroundJob] = ()
    ) -> Runtime:
        return cls(
            settings=settings,
            db=Database(
                str(settings.database_url),
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                pool_timeout=settings.pool_timeout_seconds,
                connect_timeout=settings.db_connect_timeout_seconds,
            ),
            page_build_db=Database(
                str(settings.database_url),
                pool_size=PAGE_BUILD_POOL_SIZE,
                max_overflow=PAGE_BUILD_POOL_SIZE,
                pool_timeout=settings.pool_timeout_seconds,
                connect_timeout=settings.db_connect_timeout_seconds,
            ),
            storage=make_storage(settings),
            export_storage=make_export_storage(settings),
            background_jobs=background_jobs,
        )

    async def start(self, *, run_worker: bool) -> None:
        settings = self.settings
        await self.storage.start()
        await self.export_storage.start()
        if settings.uses_embedded_redis:
            embedded = redis_infra.EmbeddedRedis(settings.instance_dir)
            await embedded.ensure_running()
            url = embedded.url
        else:
            url = str(settings.redis_url)
        self.redis = redis_infra.connect(
            url,
            max_connections=settings.redis_pool_size,
            timeout=settings.pool_timeout_seconds,
            socket_timeout=settings.redis_timeout_seconds,
        )
        await wait_for_redis(self.redis)
        if settings.live_enabled:
            self.live = LiveHub(url, connect_timeout=settings.redis_timeout_seconds)
        self.sign_ins = SignInStore(
            self.redis, settings.session_ttl_seconds, settings.remember_ttl_seconds
        )
        if run_worker:
            self._stop_background.clear()
            for job in self.background_jobs:
                self._background.append(asyncio.create_task(job(self, self._stop_background)))

    async def run_background_jobs(self, stop: asyncio.Event) -> None:
        """Run every background job in this task until ``stop`` (``gallery worker``)."""
        await asyncio.gather(*(job(self, stop) for job in self.background_jobs))

    async def stop(self) -> None:
        """Let background jobs finish their round, then close connections."""
        self._stop_background.set()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
            self._background.clear()
        if self.live is not None:
            await self.live.close()
            self.live = None
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()
        if self.page_build_db is not None:
            await self.page_build_db.dispose()
        await self.storage.close()
        await self.export_storage.close()

    @property
    def page_builds(self) -> Database:
        """Where shared pages are built (the main pool when no pool of their own was made)."""
        return self.page_build_db or self.db


async def wait_for_redis(redis: aioredis.Redis) -> None:
    """Ping Redis at start-up, for a few seconds; then start without it, loudly.

    A process that refused to start while Redis is down would turn an outage
    into a crash loop of every restarted worker. Started without it, the
    process serves what it can (public pages from the database) and 503s the
    rest, and recovers by itself once Redis answers (``infra.redis.Circuit``).
    """
    deadline = asyncio.get_running_loop().time() + STARTUP_REDIS_WAIT_SECONDS
    while True:
        try:
            await redis.ping()
            return
        except RedisError as error:
            if not redis_infra.is_unavailable(error):
                raise  # a wrong password or database number is a mistake, not an outage
            if asyncio.get_running_loop().time() >= deadline:
                log.error(
                    "Redis did not answer at start-up (%s): serving without it until it does",
                    error,
                )
                return
            await asyncio.sleep(0.5)


def pool_wait_timed_out(error: BaseException) -> bool:
    """Whether ``error`` is a database or Redis pool wait that timed out (overload)."""
    return db_infra.is_pool_timeout(error) or redis_infra.is_pool_timeout(error)


def outage(error: BaseException) -> str | None:
    """Which service ``error`` says is unreachable ("Redis", "the database"), if any."""
    if redis_infra.is_unavailable(error):
        return "Redis"
    if db_infra.is_unavailable(error):
        return "the database"
    return None

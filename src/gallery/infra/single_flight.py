"""Values kept in this process by key, each built once however many ask for it at once.

Both the page cache (feed pages) and the fragment cache (rendered markup) keep
the latest few hundred things they built in memory, and under a thousand
pollers a missing one is asked for by many requests in the same moment. The
first of them starts the build in a task of its own; the rest wait for that
task through ``asyncio.shield``, so a waiter that is cancelled (its client hung
up) cancels nothing for the others. A build that fails reaches every waiter
and is not kept: the next request tries again.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlightLRU(Generic[T]):
    """At most ``entries`` values, least recently used out first; missing ones built once."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._kept: OrderedDict[str, T] = OrderedDict()
        self._building: dict[str, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def keys(self) -> list[str]:
        """The keys kept, least recently used first."""
        return list(self._kept)

    def peek(self, key: str) -> T | None:
        """The value if it is kept; never waits, never builds."""
        value = self._kept.get(key)
        if value is not None:
            self._kept.move_to_end(key)
        return value

    def put(self, key: str, value: T) -> None:
        self._kept[key] = value
        self._kept.move_to_end(key)
        while len(self._kept) > self.entries:
            self._kept.popitem(last=False)

    async def get_or_build(self, key: str, build: Callable[[], Awaitable[T]]) -> T:
        """The value under ``key``, built by ``build()`` (once for all who ask) if missing.

        ``build`` runs in a task that copies the caller's context, and may finish
        after the caller is gone: it must not depend on that caller's resources.
        """
        value = self.peek(key)
        if value is not None:
            return value
        task = self._building.get(key)
        if task is None:
            task = asyncio.create_task(_awaited(build), name=f"build {key}")
            self._building[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: str, task: asyncio.Task[T]) -> None:
        if self._building.get(key) is task:
            del self._building[key]
        if task.cancelled():
            return
        if task.exception() is None:  # also marks a failure as seen when every waiter left
            self.put(key, task.result())

    def discard(self, key: str) -> None:
        self._kept.pop(key, None)

    def clear(self) -> None:
        self._kept.clear()


async def _awaited(build: Callable[[], Awaitable[T]]) -> T:
    return await build()

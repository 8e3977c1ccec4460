"""The moment this process starts draining, told by the serving master's worker to the app.

Hypercorn stops accepting connections when a worker is asked to shut down,
then waits (``graceful_timeout``) for the open ones to finish. Requests finish
on their own; live sockets never do, so the app must hear that draining began
and close them ("going away") for their pages to reconnect to another worker.
``gallery.serving`` calls ``begin()`` from inside the worker's event loop; the
app registers what to do with ``on_drain``. Nothing here knows either side.
"""

from __future__ import annotations

from collections.abc import Callable

_callbacks: list[Callable[[], None]] = []
_draining = False


def on_drain(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (in the event loop) when draining begins; returns an undo."""
    _callbacks.append(callback)
    if _draining:
        callback()

    def forget() -> None:
        if callback in _callbacks:
            _callbacks.remove(callback)

    return forget


def begin() -> None:
    """Draining began: tell every registered callback, once."""
    global _draining
    if _draining:
        return
    _draining = True
    for callback in list(_callbacks):
        callback()


def is_draining() -> bool:
    return _draining

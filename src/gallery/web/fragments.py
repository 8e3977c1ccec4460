"""Rendered pieces of pages kept in this process, per version of what they show.

The home page's content (the hero, today's top and the feed grid) comes out
the same for every anonymous visitor of one URL until the feed changes, and
rendering it (a dozen cards through macros, ``url_for`` and the
``hashtag_links`` filter) was most of the page's cost. It is rendered here once
per (version, name, full path) and handed back as ``Markup`` for the page
around it, which is still rendered per request (the navbar, the session's CSRF
token, flashed messages).

Only markup that depends on nothing but its key may be kept: no
``csrf_token()``, no session, no viewer. The caller decides when that holds
(e.g. only for anonymous viewers) and puts everything the markup shows in the
version.

Nothing goes to Redis: the data behind the fragments is shared already
(``infra.page_cache``), and rebuilding the HTML once per process per version
is cheap. Old versions are never asked for again and fall out of the LRU.
Concurrent misses for one key share a single render ("single flight"), run in
a task of its own so that a client hanging up does not cancel it for the
others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from markupsafe import Markup
from quart import current_app

from gallery.infra.single_flight import SingleFlightLRU

# A rendered home page content is 20-40 KB, so this bounds the cache to a few
# MB per worker while holding the first pages of the current version (and
# those of the previous one, for requests that read the version just before
# it moved on).
FRAGMENT_ENTRIES = 64
FRAGMENT_EXTENSION = "gallery.fragments"

Render = Callable[[], Awaitable[str]]


class FragmentCache:
    """Rendered markup by key: an LRU of ``entries``, one render per key at a time."""

    def __init__(self, entries: int = FRAGMENT_ENTRIES) -> None:
        self._rendered = SingleFlightLRU[Markup](entries)

    def __len__(self) -> int:
        return len(self._rendered)

    async def get_or_render(self, key: str, render: Render) -> Markup:
        """The markup under ``key``, rendering it with ``render()`` if nobody has.

        ``render`` runs in a task that copies the caller's context (the request
        context included, for ``url_for`` and ``request``), shielded from the
        waiters' cancellation. Its exceptions reach every waiter and nothing is
        kept, so the next request tries again.
        """
        return await self._rendered.get_or_build(key, lambda: _as_markup(render))


async def _as_markup(render: Render) -> Markup:
    # ``render`` gives a template's output: HTML already, its user text
    # autoescaped as it was rendered, so it is output as it is.
    return Markup(await render())  # noqa: S704


def current_fragments() -> FragmentCache:
    """The app's fragment cache (each app its own: URLs are the app's)."""
    cache: FragmentCache | None = current_app.extensions.get(FRAGMENT_EXTENSION)
    if cache is None:
        cache = FragmentCache()
        current_app.extensions[FRAGMENT_EXTENSION] = cache
    return cache


async def cached_fragment(version: str, name: str, full_path: str, render: Render) -> Markup:
    """The fragment ``name`` of the page at ``full_path`` as of ``version``.

    ``version`` must stand for everything the fragment shows besides the path;
    ``render`` must give the same markup to every request with this key.
    """
    return await current_fragments().get_or_render(f"{version}:{name}:{full_path}", render)

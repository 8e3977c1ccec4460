"""Every rate limit of the site in one table, and the decorators that put them on routes.

A route says which limits it spends (``@rate_limited("likes")``) or why it has
none (``@rate_limit_exempt("…")``), next to ``@permission_required``;
``tests/web/test_route_permissions.py`` fails on an unsafe route that says
neither. Routes that share an entry (a page form and its JSON twin) share one
budget: the counter is the entry's, not the route's.

Counting is a fixed window in Redis (a counter that expires with the window),
shared by every app process and cheap enough for every attempt. The settings
flag ``rate_limits_enabled`` turns the counting off (never the declarations).

While Redis cannot be reached a limit *fails closed* (the request is answered
503 with Retry-After: sign-in, registration and mail could otherwise be
hammered without limit during an outage) unless its entry says it *fails open*
(the attempt is let through uncounted): only reads do, so that public pages
keep working from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import current_app, request
from redis.exceptions import RedisError
from werkzeug.exceptions import TooManyRequests

from gallery.infra.redis import is_unavailable
from gallery.models.user import User
from gallery.services.accounts import sign_in_attempts_key
from gallery.web.current_user import require_user
from gallery.web.resources import resources
from gallery.web.security import UNSAFE_METHODS, client_address

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
View = TypeVar("View", bound=Callable[..., Awaitable[Any]])

MINUTE = 60
TEN_MINUTES = 600
QUARTER_HOUR = 900
HOUR = 3600


class Key(Enum):
    """Whose attempts one counter adds up."""

    ADDRESS = "the client's address"
    USER = "the signed-in account"
    # The account or e-mail address typed into a form: only the view knows it,
    # so the view counts it (``count_attempt(name, value)``).
    VALUE = "a value the view supplies"


@dataclass(frozen=True)
class RateLimit:
    what: str  # completes "Too many …" in the 429 message
    limit: int  # attempts allowed per window; the next one is refused
    window_seconds: int
    key: Key
    # Let the attempt through uncounted while Redis is down (see the module's docstring).
    fails_open: bool = False


RATE_LIMITS: dict[str, RateLimit] = {
    # -- accounts -------------------------------------------------------------------
    # A household or an office behind one address signs up a few people; a script
    # does not get to create accounts by the thousand.
    "registrations": RateLimit(
        "registrations from your address", limit=10, window_seconds=HOUR, key=Key.ADDRESS
    ),
    # People sharing an address mistype now and then; guessing passwords across
    # many accounts from one address is held to 120 tries an hour.
    "sign-ins-by-address": RateLimit(
        "sign-in attempts from your address", limit=30, window_seconds=QUARTER_HOUR, key=Key.ADDRESS
    ),
    # Someone who forgot their password tries a few; guessing one account's
    # password from many addresses is held to 40 tries an hour.
    "sign-ins-by-account": RateLimit(
        "sign-in attempts for this account", limit=10, window_seconds=QUARTER_HOUR, key=Key.VALUE
    ),
    # Each request sends a real mail: enough for the few people behind one
    # address, too few to use the site as a spam cannon.
    "activation-mails-by-address": RateLimit(
        "activation mails", limit=10, window_seconds=HOUR, key=Key.ADDRESS
    ),
    # One inbox gets at most three of these an hour however many addresses ask,
    # so nobody can flood a stranger's mailbox through us.
    "activation-mails-by-email": RateLimit(
        "activation mails for this address", limit=3, window_seconds=HOUR, key=Key.VALUE
    ),
    # As the activation mails, with a budget of their own.
    "reset-mails-by-address": RateLimit(
        "password reset requests", limit=10, window_seconds=HOUR, key=Key.ADDRESS
    ),
    "reset-mails-by-email": RateLimit(
        "password reset requests for this address", limit=3, window_seconds=HOUR, key=Key.VALUE
    ),
    # Each one mails a stranger's address at most: a few an hour is plenty.
    "email-changes": RateLimit("e-mail changes", limit=5, window_seconds=HOUR, key=Key.USER),
    # Each one reserves a name for a month: a few a day, not a name-squatting script.
    "username-changes": RateLimit(
        "username changes", limit=5, window_seconds=24 * HOUR, key=Key.USER
    ),
    # Each passkey sign-in starts with a challenge kept in a server-side session,
    # which an anonymous visitor gets for it: a page opened now and then asks
    # for a few, a script filling the session store with thousands is stopped.
    "passkey-challenges": RateLimit(
        "passkey sign-in starts from your address",
        limit=60,
        window_seconds=QUARTER_HOUR,
        key=Key.ADDRESS,
    ),
    # -- acting ---------------------------------------------------------------------
    # Counted per file: a memory card's worth an hour (six full batches of 20);
    # beyond that it is a script filling the disk.
    "uploads": RateLimit("uploads", limit=120, window_seconds=HOUR, key=Key.USER),
    # A lively conversation, not a flood: one comment every ten seconds, kept up.
    "comments": RateLimit("comments", limit=60, window_seconds=TEN_MINUTES, key=Key.USER),
    # Generous for someone cleaning up after a spammer, tight enough that nobody
    # buries the moderators' queue.
    "reports": RateLimit("reports", limit=20, window_seconds=HOUR, key=Key.USER),
    # Generous for people and for infinite scroll; it bounds what a script can
    # make the database do (short words are matched with LIKE, which scans).
    # A read: while Redis is down, searching goes on uncounted.
    "searches": RateLimit(
        "searches", limit=120, window_seconds=MINUTE, key=Key.ADDRESS, fails_open=True
    ),
    # Likes and unlikes, follows and unfollows: generous for people, tight enough
    # that a script cannot hammer the counters (or the people it follows).
    "likes": RateLimit("likes", limit=300, window_seconds=TEN_MINUTES, key=Key.USER),
    "follows": RateLimit("follows", limit=100, window_seconds=TEN_MINUTES, key=Key.USER),
    "saves": RateLimit("saves", limit=300, window_seconds=TEN_MINUTES, key=Key.USER),
    # Mutes and unmutes change only what the muter sees: as generous as saves.
    "mutes": RateLimit("mutes", limit=300, window_seconds=TEN_MINUTES, key=Key.USER),
    # Blocks end follows on both sides: as tight as follows.
    "blocks": RateLimit("blocks", limit=100, window_seconds=TEN_MINUTES, key=Key.USER),
}


class RateLimited(TooManyRequests):
    """429 with a message saying what was limited and when to try again.

    ``web/errors.py`` adds ``Retry-After``; pages that keep a form (upload,
    report) catch it and show the message on the form instead.
    """

    def __init__(self, what: str, retry_after: int) -> None:
        minutes = max(1, round(retry_after / 60))
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        super().__init__(f"Too many {what}. Please wait about {wait} and try again.")
        self.retry_after = retry_after


@dataclass(frozen=True)
class DeclaredLimits:
    """What ``@rate_limited`` records on a view (``declared_limits`` reads it back)."""

    names: tuple[str, ...]
    counted_in_view: bool


def rate_limited(
    *names: str, counted_in_view: bool = False
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Declare the ``RATE_LIMITS`` entries a route spends; by default, count them first.

    Counted before the view: one attempt per request, on the unsafe methods
    only when the route also serves GET (a GET-only route counts its GETs).
    It stands directly above the ``def``, under ``@permission_required`` and
    the schema decorators, so a refused or malformed request costs nothing.

    ``counted_in_view=True`` only declares: the view calls ``count_attempt``
    where the moment matters (after the form validated, once per uploaded
    file, inside the ``try`` that shows the refusal on the page). Limits keyed
    by a value the view supplies are always counted that way.
    """
    if not names:
        raise TypeError("rate_limited() needs at least one name from RATE_LIMITS")
    for name in names:
        if name not in RATE_LIMITS:
            raise KeyError(f"no rate limit named {name!r} in RATE_LIMITS")
        if RATE_LIMITS[name].key is Key.VALUE and not counted_in_view:
            raise TypeError(
                f"{name!r} is keyed by a value only the view knows: "
                "declare it with counted_in_view=True and count it with count_attempt()"
            )
    declared = DeclaredLimits(names, counted_in_view)

    def decorator(view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        if counted_in_view:
            view.rate_limits = declared  # type: ignore[attr-defined]
            return view
        if hasattr(view, "__wrapped__"):
            # Above another wrapper it would count requests that one refuses.
            raise TypeError(f"@rate_limited must be the decorator right above {view.__name__}()")

        @wraps(view)
        async def limited(*args: P.args, **kwargs: P.kwargs) -> R:
            if counts_this_request():
                for name in names:
                    await count(name, subject_of(RATE_LIMITS[name]))
            return await view(*args, **kwargs)

        limited.rate_limits = declared  # type: ignore[attr-defined]
        return limited

    return decorator


def rate_limit_exempt(reason: str) -> Callable[[View], View]:
    """Say why an unsafe route deliberately spends no rate limit (the route test reads it)."""
    if not reason.strip():
        raise ValueError("say why the route needs no rate limit")

    def decorator(view: View) -> View:
        view.rate_limit_exempt = reason  # type: ignore[attr-defined]
        return view

    return decorator


def declared_limits(view: Callable[..., Any]) -> DeclaredLimits | None:
    return getattr(view, "rate_limits", None)


def exemption_of(view: Callable[..., Any]) -> str | None:
    return getattr(view, "rate_limit_exempt", None)


async def count_attempt(name: str, value: str | None = None) -> None:
    """Count one attempt on the current route, in the view: ``RateLimited`` past the limit.

    ``value`` is the key of a ``Key.VALUE`` limit (normalised by the caller,
    e.g. ``User.key_for(email)``) and nothing for the others. A name the
    route did not declare with ``counted_in_view=True`` is a programming
    error, refused even while counting is off, so the declaration on the
    route cannot drift from what the view spends.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    declared = declared_limits(view) if view is not None else None
    if declared is None or not declared.counted_in_view or name not in declared.names:
        raise RuntimeError(
            f"{request.endpoint} counts the rate limit {name!r} without declaring it: "
            f"add @rate_limited({name!r}, counted_in_view=True) to the route"
        )
    entry = RATE_LIMITS[name]
    if (entry.key is Key.VALUE) != (value is not None):
        raise TypeError(f"{name!r} is keyed by {entry.key.value}; pass a value only for those")
    await count(name, value if value is not None else subject_of(entry))


async def count_guess_on_account(user: User) -> None:
    """One guess at ``user``'s secrets (a code, the password) on the counter its
    sign-ins spend: guessing in settings buys no more tries than at /login."""
    await count_attempt("sign-ins-by-account", sign_in_attempts_key(user, ""))


def counts_this_request() -> bool:
    """A route that also serves GET spends its limit on the unsafe methods only."""
    if request.method in UNSAFE_METHODS:
        return True
    rule = request.url_rule
    return rule is not None and not (set(rule.methods or ()) & UNSAFE_METHODS)


def subject_of(entry: RateLimit) -> str:
    """Whose counter an address- or account-keyed attempt goes to."""
    if entry.key is Key.ADDRESS:
        return client_address()
    if entry.key is Key.USER:
        return str(require_user().id)
    raise TypeError(f"a limit keyed by {entry.key.value} is counted with count_attempt()")


def counter_key(name: str, subject: str) -> str:
    """The Redis counter of one entry for one address, account id or value."""
    return f"rate:{name}:{subject}"


async def count(name: str, subject: str) -> None:
    """One attempt on ``RATE_LIMITS[name]`` for ``subject``; ``RateLimited`` past the limit."""
    use = resources()
    if not use.settings.rate_limits_enabled:
        return
    entry = RATE_LIMITS[name]
    redis_key = counter_key(name, subject)
    try:
        async with use.redis.pipeline(transaction=True) as pipe:
            # SET NX EX starts the window (EXPIRE NX would need Redis 7; the
            # embedded server is 6.2).
            pipe.set(redis_key, 0, ex=entry.window_seconds, nx=True)
            pipe.incr(redis_key)
            pipe.ttl(redis_key)
            _, attempts, ttl = await pipe.execute()
    except RedisError as error:
        if entry.fails_open and is_unavailable(error):
            log.warning("Rate limit %r not counted: Redis is unavailable (%s)", name, error)
            return
        raise  # fails closed: answered 503 (web/errors.py)
    if attempts > entry.limit:
        raise RateLimited(entry.what, ttl if ttl and ttl > 0 else entry.window_seconds)

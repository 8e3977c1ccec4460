"""Image views: counted in Redis as they happen, moved into the database in batches.

A page view must not cost a database write, so ``record_view`` touches Redis
only: a per-viewer marker (``views:seen:<image>:<viewer>``, one hour) makes a
viewer count once an hour per image, and the first view in that hour adds one
to the image's field in the pending hash ``views:pending``. Both happen in one
Lua script, so a marker never exists without its count.

Who is one viewer (``viewer_key``) is what keeps the hot ranking honest: a
signed-in user is their account wherever they are; anyone else is their
network address alone (an IPv6 client by its /64, which it usually owns
whole). Nothing the client merely says, such as its User-Agent, is part of the
key: otherwise one address could count as many viewers as it has strings to
send.

Counting fails open: a view is statistics, never worth an error for the
visitor, so when Redis is down or too slow the view is not counted and one
warning line is logged.

``flush_views`` (run every ``GALLERY_VIEW_FLUSH_SECONDS`` by the web process's
background loop or by ``gallery worker``) claims the whole pending hash at once
by renaming it to a key of its own (``views:flushing:<token>``): views recorded
afterwards start a fresh pending hash, and no other flusher can see the claimed
batch, so with any number of flushers running each view is applied once. The
batch is added to ``images.view_count`` in one transaction; if that fails, the
batch is merged back into the pending hash for the next flush.

Where the outcome cannot be known the choice leans to "never twice": a process
killed between the claim and the commit loses that batch (it expires under its
``views:flushing:`` key, inspectable meanwhile), and only an error raised *by*
the commit itself could see a batch that did commit returned. Views are
statistics; a rare lost batch is acceptable, a double count on every retry is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Iterator, Mapping

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import Database
from gallery.models.image import Image

log = logging.getLogger(__name__)

PENDING_KEY = "views:pending"
SEEN_PREFIX = "views:seen:"
FLUSHING_PREFIX = "views:flushing:"
# One viewer counts once per image in this many seconds.
DEDUP_SECONDS = 3600
# An IPv6 client is usually given a whole /64 and can pick any address in it.
IPV6_VIEWER_PREFIX = 64
# A claimed batch is deleted once its transaction commits or it is merged back.
# Only a process killed between the claim and the commit leaves one behind; it
# then expires (its views are lost rather than risked twice) after this long,
# which leaves time to inspect it.
ORPHAN_BATCH_SECONDS = 7 * 24 * 3600
# Images per UPDATE: three bound parameters each (CASE pair and IN list) stays
# far below every back-end's parameter limit.
UPDATE_CHUNK = 200

# KEYS: seen marker, pending hash. ARGV: image id, marker lifetime.
_RECORD_SCRIPT = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
    return 1
end
return 0
"""

# KEYS: pending hash, batch key. ARGV: batch lifetime. Returns the batch's fields.
_CLAIM_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return {}
end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return redis.call('HGETALL', KEYS[2])
"""

# KEYS: pending hash, batch key. Adds the batch back to pending, then drops it.
_PUT_BACK_SCRIPT = """
local counts = redis.call('HGETALL', KEYS[2])
for i = 1, #counts, 2 do
    redis.call('HINCRBY', KEYS[1], counts[i], counts[i + 1])
end
redis.call('DEL', KEYS[2])
return #counts / 2
"""


def seen_key(image_id: int, viewer_key: str) -> str:
    return f"{SEEN_PREFIX}{image_id}:{viewer_key}"


def viewer_key(*, user_id: int | None, address: str, secret: bytes) -> str:
    """Who one view is by, for the once-an-hour rule: ``u:<id>`` or ``a:<keyed hash>``.

    A signed-in user is one viewer whatever their address. Anyone else is
    their network (``viewer_network``) and nothing else: the User-Agent and
    the like cost a script nothing to vary. The address is kept only as an
    HMAC under ``secret`` (the app's key), and only as long as its marker
    lives: an unkeyed hash of an IPv4 address is undone by trying them all.
    """
    if user_id is not None:
        return f"u:{user_id}"
    material = b"image-viewer\n" + viewer_network(address).encode()
    return "a:" + hmac.new(secret, material, hashlib.sha256).hexdigest()[:32]


def viewer_network(address: str) -> str:
    """The part of a client address that one client controls.

    An IPv4 address (also written IPv4-mapped in IPv6) is itself; an IPv6
    address is its /64. Anything else (a unix socket, "unknown") is taken as
    it is.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_VIEWER_PREFIX}", strict=False))
    return str(parsed)


async def record_view(redis: aioredis.Redis, *, image_id: int, viewer_key: str) -> bool:
    """Count a view of ``image_id`` by ``viewer_key``; True if it counted.

    A viewer counts once per image per hour (``viewer_key`` from the function
    of that name). It fails open: when Redis cannot be reached, answers too
    slowly (the client's socket and pool timeouts) or refuses, one warning is
    logged and False returned, never an error: a view is not worth failing the
    page that shows the image.
    """
    try:
        counted = await redis.eval(
            _RECORD_SCRIPT,
            2,
            seen_key(image_id, viewer_key),
            PENDING_KEY,
            str(image_id),
            str(DEDUP_SECONDS),
        )
    except (RedisError, OSError, TimeoutError) as error:
        # One line, no traceback: Redis's own outage is logged where it is seen.
        log.warning(
            "Could not count a view of image %s: %s: %s", image_id, type(error).__name__, error
        )
        return False
    return bool(counted)


async def pending_views(redis: aioredis.Redis) -> dict[int, int]:
    """Views recorded but not yet flushed, by image id."""
    return _counts(await redis.hgetall(PENDING_KEY))


async def flush_views(session_or_db: AsyncSession | Database, redis: aioredis.Redis) -> int:
    """Add the pending view counts to ``images.view_count``; returns the views applied.

    Safe with any number of concurrent flushers (each claims the pending hash
    atomically). Views of images deleted meanwhile are dropped. If the database
    update fails, nothing of the batch is applied, the counts go back to the
    pending hash for the next flush, and the error is raised.

    Given a session, it must have no work of its own in progress: the flush
    commits it (or rolls it back).
    """
    batch_key = FLUSHING_PREFIX + secrets.token_hex(12)
    fields = await redis.eval(_CLAIM_SCRIPT, 2, PENDING_KEY, batch_key, str(ORPHAN_BATCH_SECONDS))
    counts = _counts(dict(_pairs(fields)))
    if not counts:
        await redis.delete(batch_key)
        return 0
    try:
        if isinstance(session_or_db, Database):
            async with session_or_db.session() as session:
                applied = await _apply(session, counts)
        else:
            applied = await _apply(session_or_db, counts)
    except BaseException:
        # Also on cancellation (shutdown): an uncommitted batch must not be lost.
        await _put_back(redis, batch_key)
        raise
    await redis.delete(batch_key)
    return applied


async def _apply(session: AsyncSession, counts: dict[int, int]) -> int:
    applied = 0
    try:
        for chunk in _chunks(sorted(counts), UPDATE_CHUNK):
            # The UPDATE comes first: on SQLite it takes the write lock at once
            # (a read first would make the later write fail when another
            # flusher committed in between), on MariaDB it locks the rows.
            result = await session.execute(
                update(Image)
                .where(Image.id.in_(chunk))
                .values(
                    view_count=Image.view_count
                    + case({i: counts[i] for i in chunk}, value=Image.id, else_=0)
                )
                .execution_options(synchronize_session=False)
            )
            updated = chunk
            if result.rowcount != len(chunk):  # type: ignore[attr-defined]
                # Some images were deleted meanwhile; count only the views
                # that found their image (the rows updated are locked now).
                updated = list(await session.scalars(select(Image.id).where(Image.id.in_(chunk))))
            applied += sum(counts[i] for i in updated)
        await session.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await session.rollback()
        raise
    return applied


async def _put_back(redis: aioredis.Redis, batch_key: str) -> None:
    try:
        await redis.eval(_PUT_BACK_SCRIPT, 2, PENDING_KEY, batch_key)
    except RedisError:
        log.exception(
            "Could not return the unflushed views in %s to %s; they expire with that key",
            batch_key,
            PENDING_KEY,
        )


async def run_view_flusher(
    db: Database, redis: aioredis.Redis, stop: asyncio.Event, *, every_seconds: float
) -> None:
    """Flush views every ``every_seconds`` until ``stop`` is set, then once more."""
    log.info("View flusher started (every %s s)", every_seconds)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_seconds)
        if not stop.is_set():
            await _flush_logged(db, redis)
    # The final flush: requests have drained by the time the app stops us.
    await _flush_logged(db, redis)
    log.info("View flusher stopped")


async def _flush_logged(db: Database, redis: aioredis.Redis) -> None:
    try:
        applied = await flush_views(db, redis)
    except Exception:  # keep the loop alive through a database or Redis blip
        log.exception("View flusher: flush failed; its views wait for the next one")
    else:
        if applied:
            log.debug("View flusher: %s views written to the database", applied)


def _pairs(fields: list[str]) -> Iterator[tuple[str | bytes, str | bytes]]:
    # HGETALL through EVAL arrives as a flat [field, value, field, value, ...] list.
    return zip(fields[::2], fields[1::2], strict=True)


def _counts(raw: Mapping[str | bytes, str | bytes]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for field, value in raw.items():
        try:
            image_id, count = int(field), int(value)
        except ValueError:
            log.warning("Ignoring a malformed pending view count %r=%r", field, value)
            continue
        if image_id > 0 and count > 0:
            counts[image_id] = count
    return counts


def _chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]

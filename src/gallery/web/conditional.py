"""ETags for the JSON feeds: a poll that has seen the current version gets 304.

The tag combines the feed version from Redis (bumped after every write that
feeds show), the exact request (path and query) and the viewer (``liked`` is
per viewer). Answering 304 costs one Redis read and no database query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from quart import Response, jsonify, request
from redis.exceptions import RedisError

from gallery.infra.redis import is_unavailable
from gallery.services.feeds import feed_version
from gallery.web.current_user import signed_in_user
from gallery.web.private_media import current_window
from gallery.web.resources import resources


def etag_for(version: str, full_path: str, viewer_id: int | None) -> str:
    """The ETag of the answer to ``full_path`` (path and query) for a viewer at ``version``."""
    material = f"{version}|{full_path}|{viewer_id if viewer_id is not None else '-'}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def current_etag(version: str) -> str:
    """The ETag of this request's answer while ``version`` stands.

    A viewer's saves show on every post (``saved``), and their mutes take posts
    out, without moving the feed version, so their own versions are part of the
    tag too; so is the hour of the signed media URLs (``web/private_media.py``)
    for a signed-in viewer.
    """
    viewer = signed_in_user()
    if viewer is None:
        return etag_for(version, request.full_path, None)
    personal = personal_version(viewer.saves_version, viewer.relations_version)
    return etag_for(f"{version}:{personal}", request.full_path, viewer.id)


def personal_version(saves_version: int, relations_version: int) -> str:
    """What a signed-in viewer's ETags add to the feed version.

    The signed URLs of followers-only photos (never shown to anonymous
    visitors) change every hour: so does a signed-in viewer's tag.
    """
    return f"s{saves_version}:r{relations_version}:m{current_window()}"


def set_validators(response: Response, etag: str) -> Response:
    response.set_etag(etag)
    # Clients must revalidate every time (cheaply, with If-None-Match); the
    # body depends on who asks, so shared caches must not keep it.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["Vary"] = "Cookie"
    return response


def not_modified(etag: str) -> Response:
    # An empty bytes body: with none, Quart iterates an empty list in a thread pool.
    return set_validators(Response(b"", status=304), etag)


async def conditional_json(
    build: Callable[[], Awaitable[Any]], *, version: str | None = None
) -> Response:
    """``build()``'s dataclass as JSON with an ETag, or 304 if the client has it.

    ``version`` stands for what the body depends on; by default the feed version.
    """
    if version is None:
        try:
            version = await feed_version(resources().redis)
        except RedisError as error:
            if not is_unavailable(error):
                raise
            # Redis is down: the answer straight from the database, without an ETag.
            response = jsonify(asdict(await build()))
            response.headers["Cache-Control"] = "no-cache"
            return response
    etag = current_etag(version)
    if request.if_none_match.contains(etag):
        return not_modified(etag)
    return set_validators(jsonify(asdict(await build())), etag)

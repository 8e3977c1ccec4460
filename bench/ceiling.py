"""The ceiling: the fastest a Quart route can answer on Gallery's server set-up.

bench/run.py serves this module with the very same ``hypercorn.toml`` as
Gallery (same workers, worker class, logging), so what separates a Gallery
route from this one is Gallery's own work: sessions, security headers, Redis,
the database and rendering. One route answers a constant list of 20 items
shaped like the JSON feed's, encoded once: Gallery may serve feed pages it
encoded earlier (from its page cache), and a ceiling that paid for encoding on
every request could be outrun by the very routes measured against it.

    hypercorn --config hypercorn.toml --bind 127.0.0.1:8001 ceiling:app   # from bench/
"""

from __future__ import annotations

import json
from typing import Any

from quart import Quart, Response

FEED_SIZE = 20


def feed_item(number: int) -> dict[str, Any]:
    """One item with the fields and rough sizes of an image in ``/api/v1/feed``."""
    stem = f"{number:02x}" * 16
    author = {
        "id": 100 + number,
        "username": f"photographer{number}",
        "avatar_url": "/static/img/avatar.svg",
    }
    return {
        "id": 10_000 - number,
        "url": f"/media/{stem[:2]}/{stem[2:4]}/{stem}_display.jpg",
        "thumb_url": f"/media/{stem[:2]}/{stem[2:4]}/{stem}_thumb.jpg",
        "width": 1080,
        "height": 720,
        "description": "Evening light over the old harbour, boats coming home. #sunset #sea",
        "created_at": "2026-11-21T09:30:00.123456Z",
        "author": author,
        "comment_count": 3,
        "like_count": 5,
        "liked": False,
        "comments_enabled": True,
        "comments": [
            {
                "id": 30_000 - number * 2 - n,
                "content": "Lovely colours, where was this taken?",
                "created_at": "2026-11-21T10:02:00.000000Z",
                "author": author,
            }
            for n in range(2)
        ],
    }


FEED_BODY = json.dumps([feed_item(number) for number in range(FEED_SIZE)], separators=(",", ":"))

app = Quart(__name__)


@app.get("/")
async def feed() -> Response:
    return Response(FEED_BODY, content_type="application/json")

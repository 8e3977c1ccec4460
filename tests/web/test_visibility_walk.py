"""Every GET route, walked as a muter, as a blocked account, and as a bystander.

What ``services/visibility.py`` decides must hold on every route, not only on
the ones a test thought of. The table below names, for every GET endpoint the
app serves, what muting changes there:

* ``SPARED``: the muted account's posts and notices are gone for the muter and
  still there for a bystander;
* ``SHOWN``: the muted account's posts are still there for the muter (their
  profile, a post's own page, the muter's saved list), as for the bystander;
* ``MUTE_LIST``: the muter's own list of muted accounts;
* ``UNRELATED``: lists nobody's posts; the muter gets what the bystander gets.

and what a block changes for the account it keeps away (``pest``, blocked by
the same ``loudmouth``): ``GONE`` (the blocker's profile, posts and lists
answer ``404``, as if absent), ``SPARED`` (the blocker's posts and notices are
gone from the pest's feeds, search, notifications and saved list) or
``UNRELATED``.

Every call must answer below 500. A GET route missing from the table, or an
entry for a route that no longer exists, fails the test: a new route cannot
ship without saying what muting does to it. Blocks, private accounts and
Private accounts and followers-only posts (issue 17) are to join this walk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery.infra.runtime import Runtime
from gallery.models.image import Image
from gallery.services import ranking
from tests.helpers import (
    add_comment,
    add_follow,
    add_like,
    csrf_header,
    make_active_user,
    sign_in,
)
from tests.images import add_described_images

LOUD = "loudmouth"  # muted by the muter
# Strings only the muted account's content carries: its posts' words, its name
# (searches ask for "loudm", so that the page echoing the query is no marker).
MARKERS = ("loudpost", LOUD)


class Muting(Enum):
    SPARED = "gone for the muter, there for others"
    SHOWN = "there for the muter too"
    MUTE_LIST = "the muter's list of muted accounts"
    UNRELATED = "shows nobody's posts; the same for both"


class Blocking(Enum):
    SPARED = "gone from the blocked account's lists, there for others"
    GONE = "404 for the blocked account, as if the blocker did not exist"
    UNRELATED = "the same for both"


@dataclass(frozen=True)
class Scene:
    muter_id: int
    loud_id: int
    loud_post: int
    quiet_post: int
    photo_id: int
    comment_id: int
    media_key: str


Paths = Callable[[Scene], list[str]]


def at(*paths: str) -> Paths:
    return lambda scene: [path.format(s=scene) for path in paths]


WALK: dict[str, tuple[Muting, Blocking, Paths]] = {
    # -- feeds, search and notifications: the muter is spared --------------------
    "main.index": (Muting.SPARED, Blocking.SPARED, at("/")),
    "api.images.feed": (Muting.SPARED, Blocking.SPARED, at("/api/v1/feed")),
    "social.following_feed": (Muting.SPARED, Blocking.SPARED, at("/following")),
    "api.social.following_feed": (Muting.SPARED, Blocking.SPARED, at("/api/v1/feed/following")),
    "api.ranking.hot_feed": (Muting.SPARED, Blocking.SPARED, at("/api/v1/feed/hot")),
    "discover.tag_page": (Muting.SPARED, Blocking.SPARED, at("/tags/sea")),
    "api.discover.tag_images": (Muting.SPARED, Blocking.SPARED, at("/api/v1/tags/sea/images")),
    "discover.search_page": (
        Muting.SPARED,
        Blocking.SPARED,
        at("/search?q=sea", "/search?q=loudm&type=users"),
    ),
    "api.discover.search_everything": (
        Muting.SPARED,
        Blocking.SPARED,
        at("/api/v1/search?q=sea", "/api/v1/search?q=loudm&type=users"),
    ),
    "compat.index_images": (Muting.SPARED, Blocking.SPARED, at("/index/images/1/20/")),
    "social.notifications": (Muting.SPARED, Blocking.SPARED, at("/notifications")),
    "api.social.list_notifications": (Muting.SPARED, Blocking.SPARED, at("/api/v1/notifications")),
    # -- what the muter went to on purpose -------------------------------------------
    "users.profile": (Muting.SHOWN, Blocking.GONE, at(f"/u/{LOUD}")),
    "api.images.user_images": (Muting.SHOWN, Blocking.GONE, at(f"/api/v1/users/{LOUD}/images")),
    "compat.profile_images": (Muting.SHOWN, Blocking.GONE, at("/profile/images/{s.loud_id}/1/20/")),
    "images.detail": (Muting.SHOWN, Blocking.GONE, at("/images/{s.loud_post}")),
    "api.images.image_detail": (Muting.SHOWN, Blocking.GONE, at("/api/v1/images/{s.loud_post}")),
    "social.saved": (Muting.SHOWN, Blocking.SPARED, at("/saved")),
    "api.social.saved_feed": (Muting.SHOWN, Blocking.SPARED, at("/api/v1/saved")),
    "social.muted": (Muting.MUTE_LIST, Blocking.UNRELATED, at("/muted")),
    "api.social.muted_users": (Muting.MUTE_LIST, Blocking.UNRELATED, at("/api/v1/mutes")),
    # The blocker's own list is walked in tests/web/test_blocks.py.
    "social.blocked": (Muting.UNRELATED, Blocking.UNRELATED, at("/blocked")),
    "api.social.blocked_users": (Muting.UNRELATED, Blocking.UNRELATED, at("/api/v1/blocks")),
    # -- the same for both -------------------------------------------------------------
    "api.images.user_profile": (Muting.UNRELATED, Blocking.GONE, at(f"/api/v1/users/{LOUD}")),
    "api.images.image_counts": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/api/v1/images/counts?ids={s.loud_post},{s.quiet_post}"),
    ),
    "api.images.list_comments": (
        Muting.UNRELATED,
        Blocking.GONE,
        at("/api/v1/images/{s.loud_post}/comments"),
    ),
    "api.images.image_versions": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/api/v1/images/{s.loud_post}/versions"),
    ),
    "api.social.unread_count": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/api/v1/notifications/unread-count"),
    ),
    "api.social.user_followers": (
        Muting.UNRELATED,
        Blocking.GONE,
        at(f"/api/v1/users/{LOUD}/followers"),
    ),
    "api.social.user_following": (
        Muting.UNRELATED,
        Blocking.GONE,
        at(f"/api/v1/users/{LOUD}/following"),
    ),
    "social.followers": (Muting.UNRELATED, Blocking.GONE, at(f"/u/{LOUD}/followers")),
    "social.following": (Muting.UNRELATED, Blocking.GONE, at(f"/u/{LOUD}/following")),
    "posts.edit": (Muting.UNRELATED, Blocking.UNRELATED, at("/images/{s.loud_post}/edit")),
    "posts.history": (Muting.UNRELATED, Blocking.UNRELATED, at("/images/{s.loud_post}/history")),
    "posts.download_original": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/images/{s.loud_post}/photos/{s.photo_id}/download"),
    ),
    "images.media": (Muting.UNRELATED, Blocking.UNRELATED, at("/media/{s.media_key}")),
    "reports.report_image_page": (
        Muting.UNRELATED,
        Blocking.GONE,
        at("/images/{s.loud_post}/report"),
    ),
    "reports.report_comment_page": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/comments/{s.comment_id}/report"),
    ),
    "images.upload": (Muting.UNRELATED, Blocking.UNRELATED, at("/upload")),
    "api.account.me": (Muting.UNRELATED, Blocking.UNRELATED, at("/api/v1/me")),
    "api.account.list_sessions": (Muting.UNRELATED, Blocking.UNRELATED, at("/api/v1/sessions")),
    "auth.account": (Muting.UNRELATED, Blocking.UNRELATED, at("/account")),
    "auth.activate": (Muting.UNRELATED, Blocking.UNRELATED, at("/activate/not-a-token")),
    "auth.resend_activation": (Muting.UNRELATED, Blocking.UNRELATED, at("/activate/resend")),
    "auth.forgot_password": (Muting.UNRELATED, Blocking.UNRELATED, at("/password/forgot")),
    "auth.reset_password": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/password/reset/not-a-token"),
    ),
    "auth.login": (Muting.UNRELATED, Blocking.UNRELATED, at("/login")),
    "auth.register": (Muting.UNRELATED, Blocking.UNRELATED, at("/register")),
    "admin.dashboard": (Muting.UNRELATED, Blocking.UNRELATED, at("/admin")),
    "admin.reports": (Muting.UNRELATED, Blocking.UNRELATED, at("/admin/reports")),
    "admin.log": (Muting.UNRELATED, Blocking.UNRELATED, at("/admin/log")),
    "main.api_docs": (Muting.UNRELATED, Blocking.UNRELATED, at("/docs")),
    "openapi": (Muting.UNRELATED, Blocking.UNRELATED, at("/openapi.json")),
    "static": (Muting.UNRELATED, Blocking.UNRELATED, at("/static/css/app.css")),
}


def served_get_routes(app: Quart) -> set[str]:
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if not rule.websocket and "GET" in (rule.methods or ())
    }


def test_every_get_route_is_in_the_walk(app: Quart) -> None:
    served = served_get_routes(app)
    missing = sorted(served - WALK.keys())
    stale = sorted(WALK.keys() - served)
    assert not missing, f"GET routes missing from WALK (say what muting does there): {missing}"
    assert not stale, f"WALK entries for routes that no longer exist: {stale}"


async def signed_in_client(app: Quart, username: str) -> Client:
    client = app.test_client()
    assert (await sign_in(client, username)).status_code == 302
    return client


@dataclass(frozen=True)
class Viewers:
    muter: Client
    pest: Client
    bystander: Client


async def set_the_scene(app: Quart, runtime: Runtime) -> tuple[Scene, Viewers]:
    """Five people: the muter, the pest and a bystander follow ``loud`` and ``quiet``,
    get a like from each and save loud's post; then the muter mutes loud, and loud
    blocks the pest."""
    muter_id = await make_active_user(runtime, "muter", "muter@example.com")
    bystander_id = await make_active_user(runtime, "bystander", "bystander@example.com")
    pest_id = await make_active_user(runtime, "pest", "pest@example.com")
    loud_id = await make_active_user(runtime, LOUD, "loud@example.com")
    quiet_id = await make_active_user(runtime, "quiet", "quiet@example.com")
    (loud_post,) = await add_described_images(runtime, loud_id, "loudpost at the #sea")
    (quiet_post,) = await add_described_images(runtime, quiet_id, "quietpost at the #sea")
    for viewer_id in (muter_id, bystander_id, pest_id):
        await add_follow(runtime, viewer_id, LOUD)
        await add_follow(runtime, viewer_id, "quiet")
        (own,) = await add_described_images(runtime, viewer_id, "my own")
        await add_like(runtime, loud_id, own)  # a notice from loud
        await add_like(runtime, quiet_id, own)
    comment_id = await add_comment(runtime, quiet_id, quiet_post)
    async with runtime.db.session() as session:
        image = await session.get_one(Image, loud_post)
        photo = image.photos[0]
        scene = Scene(
            muter_id=muter_id,
            loud_id=loud_id,
            loud_post=loud_post,
            quiet_post=quiet_post,
            photo_id=photo.id,
            comment_id=comment_id,
            media_key=photo.thumb_key,
        )
    muter = await signed_in_client(app, "muter")
    bystander = await signed_in_client(app, "bystander")
    pest = await signed_in_client(app, "pest")
    for client in (muter, bystander, pest):
        token = (await (await client.get("/api/v1/me")).get_json())["csrf_token"]
        saved = await client.put(f"/api/v1/images/{loud_post}/save", headers=csrf_header(token))
        assert saved.status_code == 200
    muter_token = (await (await muter.get("/api/v1/me")).get_json())["csrf_token"]
    muted = await muter.put(f"/api/v1/users/{LOUD}/mute", headers=csrf_header(muter_token))
    assert muted.status_code == 200
    loud = await signed_in_client(app, LOUD)
    loud_token = (await (await loud.get("/api/v1/me")).get_json())["csrf_token"]
    blocked = await loud.put("/api/v1/users/pest/block", headers=csrf_header(loud_token))
    assert blocked.status_code == 200
    async with runtime.db.session() as session:  # signing in ranked an empty site
        await ranking.refresh_ranking(session, runtime.redis)
    return scene, Viewers(muter=muter, pest=pest, bystander=bystander)


def carries_marker(body: str) -> bool:
    return any(marker in body for marker in MARKERS)


async def get_text(client: Client, path: str) -> tuple[int, str]:
    response = await client.get(path)
    return response.status_code, (await response.get_data()).decode(errors="replace")


def judged(
    where: str, expectation: Muting | Blocking, viewer: tuple[int, str], bystander: tuple[int, str]
) -> list[str]:
    """What is wrong with the viewer's answer next to the bystander's, if anything."""
    (status, body), (their_status, theirs) = viewer, bystander
    if status >= 500 or their_status >= 500:
        return [f"{where}: {status}/{their_status}"]
    if expectation is Blocking.GONE:
        if (status, their_status) != (404, 200):
            return [f"{where}: {status} for the blocked account, {their_status} for others"]
        # It may echo the name asked for, as an absent account's 404 does; no more.
        return [f"{where}: the 404 shows the blocker's posts"] if "loudpost" in body else []
    if status != their_status:
        return [f"{where}: {status}, the bystander {their_status}"]
    if expectation in (Muting.SPARED, Blocking.SPARED):
        problems = []
        if status != 200 or carries_marker(body):
            problems.append(f"{where}: still shows the account it must not")
        if not carries_marker(theirs):
            problems.append(f"{where}: the bystander does not see it (the walk is blind)")
        return problems
    if expectation is Muting.SHOWN and (status != 200 or not carries_marker(body)):
        return [f"{where}: the muter no longer sees what they went to"]
    if expectation is Muting.MUTE_LIST and (LOUD not in body or LOUD in theirs):
        return [f"{where}: the list of muted accounts is wrong"]
    return []


async def test_what_mutes_and_blocks_change_on_every_get_route(
    app: Quart, runtime: Runtime
) -> None:
    scene, viewers = await set_the_scene(app, runtime)
    failures: list[str] = []
    for endpoint, (muting, blocking, paths) in sorted(WALK.items()):
        for path in paths(scene):
            bystander = await get_text(viewers.bystander, path)
            where = f"{endpoint} {path}"
            failures += judged(
                f"muter: {where}", muting, await get_text(viewers.muter, path), bystander
            )
            failures += judged(
                f"blocked: {where}", blocking, await get_text(viewers.pest, path), bystander
            )
    assert failures == [], "\n".join(failures)


async def test_the_unread_count_leaves_out_muted_and_blocking_accounts_notices(
    app: Quart, runtime: Runtime
) -> None:
    """The one number of the walk: likes by loud and quiet, two notices, loud's hidden."""
    _, viewers = await set_the_scene(app, runtime)
    counts = []
    for client in (viewers.muter, viewers.pest, viewers.bystander):
        answer = await (await client.get("/api/v1/notifications/unread-count")).get_json()
        counts.append(answer["unread_count"])
    assert counts == [1, 1, 2]

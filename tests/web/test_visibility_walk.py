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

A second table (``AUDIENCE``) says, for the same routes, who sees the posts
of a private account (``quiet``, followed by the muter, the pest and the
bystander) and a followers-only post of it: ``FOLLOWERS`` (the follower sees
them, a stranger, ``loudmouth``, and an anonymous visitor do not),
``PUBLIC_ONLY`` (a shared page: nobody sees them there), ``GONE`` (``404`` for
the stranger and the anonymous visitor) or ``UNRELATED``. On every route the
stranger and the anonymous visitor never see them. The live socket is walked
the same way (``LIVE_AUDIENCE``).

Every call must answer below 500. A GET route missing from a table, or an
entry for a route that no longer exists, fails the test: a new route cannot
ship without saying what muting, blocking and privacy do to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import orjson
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
from tests.images import add_described_images, store_image
from tests.sockets import receive, subscribe

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


class Audience(Enum):
    FOLLOWERS = "a follower sees them; a stranger and an anonymous visitor do not"
    PUBLIC_ONLY = "a shared page: public posts only, for everyone"
    GONE = "404 for a stranger and an anonymous visitor, as if absent"
    COUNTED = "the follower's counts name the posts; the stranger's do not"
    UNRELATED = "shows none of them to anyone but their author"


# Strings only the private account's posts carry.
PRIVATE_MARKERS = ("quietpost", "fopost")


@dataclass(frozen=True)
class Scene:
    muter_id: int
    loud_id: int
    loud_post: int
    quiet_id: int
    quiet_post: int
    followers_post: int
    photo_id: int
    comment_id: int
    followers_comment_id: int
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
    "social.follow_requests": (Muting.UNRELATED, Blocking.UNRELATED, at("/follow-requests")),
    "api.social.follow_requests": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/api/v1/follow-requests"),
    ),
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
    # Unsigned: 404 for everyone (signed URLs are tested in tests/web/test_privacy.py).
    "images.private_media": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/media/private/{s.photo_id}/display.jpg"),
    ),
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
    "settings.index": (Muting.UNRELATED, Blocking.UNRELATED, at("/settings/")),
    "settings.profile": (Muting.UNRELATED, Blocking.UNRELATED, at("/settings/profile")),
    "settings.appearance": (Muting.UNRELATED, Blocking.UNRELATED, at("/settings/appearance")),
    "settings.security": (Muting.UNRELATED, Blocking.UNRELATED, at("/settings/security")),
    "settings.delete_account_page": (Muting.UNRELATED, Blocking.UNRELATED, at("/settings/delete")),
    "settings.notification_settings": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/settings/notifications"),
    ),
    "api.account.get_notice_settings": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/api/v1/me/notification-settings"),
    ),
    "api.account.list_passkeys": (Muting.UNRELATED, Blocking.UNRELATED, at("/api/v1/me/passkeys")),
    # One's own data: nothing of anyone else's relations shows there.
    "settings.your_data": (Muting.UNRELATED, Blocking.UNRELATED, at("/settings/data")),
    "settings.download_data_export": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/settings/data/999999/download"),
    ),
    "api.account.list_exports": (Muting.UNRELATED, Blocking.UNRELATED, at("/api/v1/me/exports")),
    "api.account.download_export": (
        Muting.UNRELATED,
        Blocking.UNRELATED,
        at("/api/v1/me/exports/999999/archive"),
    ),
    "auth.second_factor": (Muting.UNRELATED, Blocking.UNRELATED, at("/login/code")),
    "users.generated_avatar": (Muting.UNRELATED, Blocking.UNRELATED, at("/avatars/0/L.svg")),
    "auth.activate": (Muting.UNRELATED, Blocking.UNRELATED, at("/activate/not-a-token")),
    "auth.confirm_email": (Muting.UNRELATED, Blocking.UNRELATED, at("/email/confirm/nope")),
    "auth.undo_email_change": (Muting.UNRELATED, Blocking.UNRELATED, at("/email/undo/nope")),
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


SAME = None  # the audience walk calls the route at the paths of WALK
AUDIENCE: dict[str, tuple[Audience, Paths | None]] = {
    # -- the shared pages, built as an anonymous visitor sees them ----------------------
    "main.index": (Audience.PUBLIC_ONLY, SAME),
    "api.images.feed": (Audience.PUBLIC_ONLY, SAME),
    "api.ranking.hot_feed": (Audience.PUBLIC_ONLY, SAME),
    "discover.tag_page": (Audience.PUBLIC_ONLY, SAME),
    "api.discover.tag_images": (Audience.PUBLIC_ONLY, SAME),
    "compat.index_images": (Audience.PUBLIC_ONLY, SAME),
    "compat.profile_images": (Audience.PUBLIC_ONLY, at("/profile/images/{s.quiet_id}/1/20/")),
    # -- where a follower looks with their own eyes --------------------------------------
    "social.following_feed": (Audience.FOLLOWERS, SAME),
    "api.social.following_feed": (Audience.FOLLOWERS, SAME),
    "discover.search_page": (Audience.FOLLOWERS, at("/search?q=sea")),
    "api.discover.search_everything": (Audience.FOLLOWERS, at("/api/v1/search?q=sea")),
    "users.profile": (Audience.FOLLOWERS, at("/u/quiet")),
    "api.images.user_images": (Audience.FOLLOWERS, at("/api/v1/users/quiet/images")),
    "social.saved": (Audience.FOLLOWERS, SAME),
    "api.social.saved_feed": (Audience.FOLLOWERS, SAME),
    "api.images.image_counts": (
        Audience.COUNTED,
        at("/api/v1/images/counts?ids={s.quiet_post},{s.followers_post}"),
    ),
    # -- the posts themselves --------------------------------------------------------------
    "images.detail": (Audience.GONE, at("/images/{s.quiet_post}", "/images/{s.followers_post}")),
    "api.images.image_detail": (
        Audience.GONE,
        at("/api/v1/images/{s.quiet_post}", "/api/v1/images/{s.followers_post}"),
    ),
    "api.images.list_comments": (
        Audience.GONE,
        at("/api/v1/images/{s.followers_post}/comments"),
    ),
    "reports.report_image_page": (Audience.GONE, at("/images/{s.followers_post}/report")),
    "reports.report_comment_page": (
        Audience.GONE,
        at("/comments/{s.followers_comment_id}/report"),
    ),
    # -- nobody's but the author's, or nobody's posts at all ---------------------------------
    "api.images.image_versions": (
        Audience.UNRELATED,
        at("/api/v1/images/{s.followers_post}/versions"),
    ),
    "posts.edit": (Audience.UNRELATED, at("/images/{s.followers_post}/edit")),
    "posts.history": (Audience.UNRELATED, at("/images/{s.followers_post}/history")),
    "api.images.user_profile": (Audience.UNRELATED, at("/api/v1/users/quiet")),
    "api.social.user_followers": (Audience.UNRELATED, at("/api/v1/users/quiet/followers")),
    "api.social.user_following": (Audience.UNRELATED, at("/api/v1/users/quiet/following")),
    "social.followers": (Audience.UNRELATED, at("/u/quiet/followers")),
    "social.following": (Audience.UNRELATED, at("/u/quiet/following")),
    **{
        endpoint: (Audience.UNRELATED, SAME)
        for endpoint in (
            "social.notifications",
            "api.social.list_notifications",
            "api.social.unread_count",
            "social.muted",
            "api.social.muted_users",
            "social.blocked",
            "api.social.blocked_users",
            "social.follow_requests",
            "api.social.follow_requests",
            "posts.download_original",
            "images.media",
            "images.private_media",
            "images.upload",
            "api.account.me",
            "api.account.list_sessions",
            "auth.account",
            "settings.index",
            "settings.profile",
            "settings.appearance",
            "settings.security",
            "settings.delete_account_page",
            "settings.notification_settings",
            "api.account.get_notice_settings",
            "api.account.list_passkeys",
            "settings.your_data",
            "settings.download_data_export",
            "api.account.list_exports",
            "api.account.download_export",
            "auth.second_factor",
            "users.generated_avatar",
            "auth.activate",
            "auth.confirm_email",
            "auth.undo_email_change",
            "auth.resend_activation",
            "auth.forgot_password",
            "auth.reset_password",
            "auth.login",
            "auth.register",
            "admin.dashboard",
            "admin.reports",
            "admin.log",
            "main.api_docs",
            "openapi",
            "static",
        )
    },
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
    missing = sorted(served - AUDIENCE.keys())
    stale = sorted(AUDIENCE.keys() - served)
    assert not missing, f"GET routes missing from AUDIENCE (say who sees what there): {missing}"
    assert not stale, f"AUDIENCE entries for routes that no longer exist: {stale}"


async def signed_in_client(app: Quart, username: str) -> Client:
    client = app.test_client()
    assert (await sign_in(client, username)).status_code == 302
    return client


@dataclass(frozen=True)
class Viewers:
    muter: Client
    pest: Client
    bystander: Client  # also the private account's follower
    stranger: Client  # loudmouth: follows nobody
    anonymous: Client


async def set_the_scene(app: Quart, runtime: Runtime) -> tuple[Scene, Viewers]:
    """Five people: the muter, the pest and a bystander follow ``loud`` and ``quiet``,
    get a like from each and save loud's post; then the muter mutes loud, and loud
    blocks the pest. ``quiet`` makes its account private and adds a post for its
    followers only, which the bystander saves."""
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
    (followers_post,) = await add_described_images(runtime, quiet_id, "fopost at the #sea")
    followers_comment_id = await add_comment(runtime, quiet_id, followers_post, "on the fopost")
    async with runtime.db.session() as session:
        image = await session.get_one(Image, loud_post)
        photo = image.photos[0]
        scene = Scene(
            muter_id=muter_id,
            loud_id=loud_id,
            loud_post=loud_post,
            quiet_id=quiet_id,
            quiet_post=quiet_post,
            followers_post=followers_post,
            photo_id=photo.id,
            comment_id=comment_id,
            followers_comment_id=followers_comment_id,
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
    quiet = await signed_in_client(app, "quiet")
    quiet_token = (await (await quiet.get("/api/v1/me")).get_json())["csrf_token"]
    bystander_token = (await (await bystander.get("/api/v1/me")).get_json())["csrf_token"]
    for change in (
        quiet.put(
            "/api/v1/me/privacy", json={"is_private": True}, headers=csrf_header(quiet_token)
        ),
        quiet.patch(
            f"/api/v1/images/{followers_post}",
            json={"visibility": "followers"},
            headers=csrf_header(quiet_token),
        ),
        bystander.put(
            f"/api/v1/images/{followers_post}/save", headers=csrf_header(bystander_token)
        ),
    ):
        assert (await change).status_code == 200
    async with runtime.db.session() as session:  # signing in ranked an empty site
        await ranking.refresh_ranking(session, runtime.redis)
    return scene, Viewers(
        muter=muter, pest=pest, bystander=bystander, stranger=loud, anonymous=app.test_client()
    )


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


def shows_private(body: str) -> bool:
    return any(marker in body for marker in PRIVATE_MARKERS)


def counted_ids(body: str) -> set[int]:
    return {item["id"] for item in orjson.loads(body)["items"]}


def judged_audience(
    where: str,
    expectation: Audience,
    follower: tuple[int, str],
    stranger: tuple[int, str],
    anonymous: tuple[int, str],
    scene: Scene,
) -> list[str]:
    """What is wrong with the three answers to one path, if anything."""
    answers = {"follower": follower, "stranger": stranger, "anonymous": anonymous}
    if any(status >= 500 for status, _ in answers.values()):
        return [f"{where}: {[status for status, _ in answers.values()]}"]
    problems = [
        f"{where}: the {who} sees the private account's posts"
        for who in ("stranger", "anonymous")
        if shows_private(answers[who][1])
    ]
    (status, body), (their_status, _) = follower, stranger
    # A route for signed-in people only sends an anonymous visitor to sign in.
    # (and the sign-in pages send signed-in people on).
    anonymous_ok = anonymous[0] in {their_status, 200, 302, 401}
    if expectation is Audience.GONE:
        if (status, their_status) != (200, 404) or anonymous[0] not in (302, 401, 404):
            problems.append(f"{where}: {status} for the follower, {their_status}/{anonymous[0]}")
    elif status != their_status or not anonymous_ok:
        problems.append(f"{where}: {status} for the follower, {their_status}/{anonymous[0]}")
    elif expectation is Audience.FOLLOWERS and not shows_private(body):
        problems.append(f"{where}: the follower does not see them")
    elif expectation is Audience.PUBLIC_ONLY and shows_private(body):
        problems.append(f"{where}: a shared page shows posts for followers only")
    elif expectation is Audience.COUNTED:
        private = {scene.quiet_post, scene.followers_post}
        if counted_ids(body) != private or counted_ids(stranger[1]) & private:
            problems.append(f"{where}: the counts name posts they must not")
    return problems


async def test_who_sees_a_private_accounts_and_followers_only_posts_on_every_get_route(
    app: Quart, runtime: Runtime
) -> None:
    scene, viewers = await set_the_scene(app, runtime)
    failures: list[str] = []
    for endpoint, (audience, own_paths) in sorted(AUDIENCE.items()):
        for path in (own_paths or WALK[endpoint][2])(scene):
            failures += judged_audience(
                f"{endpoint} {path}",
                audience,
                await get_text(viewers.bystander, path),
                await get_text(viewers.stranger, path),
                await get_text(viewers.anonymous, path),
                scene,
            )
    assert failures == [], "\n".join(failures)


# The live socket's topics, and whether each viewer may follow them (a sequence
# number) or is answered as for something absent (None).
LIVE_AUDIENCE: dict[str, Callable[[Scene], str]] = {
    "feed": lambda scene: "feed",
    "tag": lambda scene: "tag:sea",
    "author": lambda scene: f"author:{scene.quiet_id}",
    "public photo": lambda scene: f"photo:{scene.loud_post}",
    "followers-only photo": lambda scene: f"photo:{scene.followers_post}",
}


async def test_the_live_socket_tells_only_followers_of_posts_for_followers(
    app: Quart, runtime: Runtime
) -> None:
    scene, viewers = await set_the_scene(app, runtime)
    topics = [topic(scene) for topic in LIVE_AUDIENCE.values()]
    clients = {
        "follower": viewers.bystander,
        "stranger": viewers.stranger,
        "anonymous": viewers.anonymous,
    }
    async with contextlib.AsyncExitStack() as stack:
        sockets = {}
        for who, client in clients.items():
            socket = await stack.enter_async_context(client.websocket("/api/v1/live"))
            assert (await receive(socket))["type"] == "hello"
            seqs = await subscribe(socket, *topics)
            followers_topic = f"photo:{scene.followers_post}"
            expected = {topic: seqs[topic] for topic in topics if topic != followers_topic}
            assert None not in expected.values(), (who, seqs)
            assert (seqs[followers_topic] is None) == (who != "follower"), (who, seqs)
            sockets[who] = socket
        # Through the service, as an upload: the account is private, so the
        # post is for followers only and says so to the sockets.
        new_post = await store_image(runtime, scene.quiet_id, "fopost two #sea")
        for who, socket in sockets.items():
            message = await receive(socket)
            assert message["topic"] == f"author:{scene.quiet_id}", (who, message)
            if who == "follower":
                assert (message["type"], message["photo"]["id"]) == ("photo.new", new_post)
            else:
                assert message["type"] == "skip", (who, message)


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

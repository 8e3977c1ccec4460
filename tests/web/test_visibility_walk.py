"""Every GET route, walked as a viewer who muted someone and as one who did not.

What ``services/visibility.py`` decides must hold on every route, not only on
the ones a test thought of. The table below names, for every GET endpoint the
app serves, what muting changes there:

* ``SPARED``: the muted account's posts and notices are gone for the muter and
  still there for a bystander;
* ``SHOWN``: the muted account's posts are still there for the muter (their
  profile, a post's own page, the muter's saved list), as for the bystander;
* ``MUTE_LIST``: the muter's own list of muted accounts;
* ``UNRELATED``: lists nobody's posts; the muter gets what the bystander gets.

Every call must answer below 500. A GET route missing from the table, or an
entry for a route that no longer exists, fails the test: a new route cannot
ship without saying what muting does to it. Blocks, private accounts and
followers-only posts (issue 17) are to join this walk as further viewers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery.infra.runtime import Runtime
from gallery.models.image import Image
from tests.helpers import (
    add_comment,
    add_follow,
    add_like,
    csrf_header,
    make_active_user,
    sign_in,
    user_id_of,
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


WALK: dict[str, tuple[Muting, Paths]] = {
    # -- feeds, search and notifications: the muter is spared --------------------
    "main.index": (Muting.SPARED, at("/")),
    "api.images.feed": (Muting.SPARED, at("/api/v1/feed")),
    "social.following_feed": (Muting.SPARED, at("/following")),
    "api.social.following_feed": (Muting.SPARED, at("/api/v1/feed/following")),
    "api.ranking.hot_feed": (Muting.SPARED, at("/api/v1/feed/hot")),
    "discover.tag_page": (Muting.SPARED, at("/tags/sea")),
    "api.discover.tag_images": (Muting.SPARED, at("/api/v1/tags/sea/images")),
    "discover.search_page": (Muting.SPARED, at("/search?q=sea", "/search?q=loudm&type=users")),
    "api.discover.search_everything": (
        Muting.SPARED,
        at("/api/v1/search?q=sea", "/api/v1/search?q=loudm&type=users"),
    ),
    "compat.index_images": (Muting.SPARED, at("/index/images/1/20/")),
    "social.notifications": (Muting.SPARED, at("/notifications")),
    "api.social.list_notifications": (Muting.SPARED, at("/api/v1/notifications")),
    # -- what the muter went to on purpose -------------------------------------------
    "users.profile": (Muting.SHOWN, at(f"/u/{LOUD}")),
    "api.images.user_images": (Muting.SHOWN, at(f"/api/v1/users/{LOUD}/images")),
    "compat.profile_images": (Muting.SHOWN, at("/profile/images/{s.loud_id}/1/20/")),
    "images.detail": (Muting.SHOWN, at("/images/{s.loud_post}")),
    "api.images.image_detail": (Muting.SHOWN, at("/api/v1/images/{s.loud_post}")),
    "social.saved": (Muting.SHOWN, at("/saved")),
    "api.social.saved_feed": (Muting.SHOWN, at("/api/v1/saved")),
    "social.muted": (Muting.MUTE_LIST, at("/muted")),
    "api.social.muted_users": (Muting.MUTE_LIST, at("/api/v1/mutes")),
    # -- the same for both -------------------------------------------------------------
    "api.images.user_profile": (Muting.UNRELATED, at(f"/api/v1/users/{LOUD}")),
    "api.images.image_counts": (
        Muting.UNRELATED,
        at("/api/v1/images/counts?ids={s.loud_post},{s.quiet_post}"),
    ),
    "api.images.list_comments": (Muting.UNRELATED, at("/api/v1/images/{s.quiet_post}/comments")),
    "api.images.image_versions": (Muting.UNRELATED, at("/api/v1/images/{s.loud_post}/versions")),
    "api.social.unread_count": (Muting.UNRELATED, at("/api/v1/notifications/unread-count")),
    "api.social.user_followers": (Muting.UNRELATED, at(f"/api/v1/users/{LOUD}/followers")),
    "api.social.user_following": (Muting.UNRELATED, at(f"/api/v1/users/{LOUD}/following")),
    "social.followers": (Muting.UNRELATED, at(f"/u/{LOUD}/followers")),
    "social.following": (Muting.UNRELATED, at(f"/u/{LOUD}/following")),
    "posts.edit": (Muting.UNRELATED, at("/images/{s.loud_post}/edit")),
    "posts.history": (Muting.UNRELATED, at("/images/{s.loud_post}/history")),
    "posts.download_original": (
        Muting.UNRELATED,
        at("/images/{s.loud_post}/photos/{s.photo_id}/download"),
    ),
    "images.media": (Muting.UNRELATED, at("/media/{s.media_key}")),
    "reports.report_image_page": (Muting.UNRELATED, at("/images/{s.loud_post}/report")),
    "reports.report_comment_page": (Muting.UNRELATED, at("/comments/{s.comment_id}/report")),
    "images.upload": (Muting.UNRELATED, at("/upload")),
    "api.account.me": (Muting.UNRELATED, at("/api/v1/me")),
    "api.account.list_sessions": (Muting.UNRELATED, at("/api/v1/sessions")),
    "auth.account": (Muting.UNRELATED, at("/account")),
    "auth.activate": (Muting.UNRELATED, at("/activate/not-a-token")),
    "auth.resend_activation": (Muting.UNRELATED, at("/activate/resend")),
    "auth.forgot_password": (Muting.UNRELATED, at("/password/forgot")),
    "auth.reset_password": (Muting.UNRELATED, at("/password/reset/not-a-token")),
    "auth.login": (Muting.UNRELATED, at("/login")),
    "auth.register": (Muting.UNRELATED, at("/register")),
    "admin.dashboard": (Muting.UNRELATED, at("/admin")),
    "admin.reports": (Muting.UNRELATED, at("/admin/reports")),
    "admin.log": (Muting.UNRELATED, at("/admin/log")),
    "main.api_docs": (Muting.UNRELATED, at("/docs")),
    "openapi": (Muting.UNRELATED, at("/openapi.json")),
    "static": (Muting.UNRELATED, at("/static/css/app.css")),
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


async def set_the_scene(app: Quart, runtime: Runtime) -> tuple[Scene, Client, Client]:
    """Four people: the muter and a bystander follow ``loud`` and ``quiet``, like
    each other's posts and save loud's; then the muter mutes loud."""
    muter_id = await make_active_user(runtime, "muter", "muter@example.com")
    bystander_id = await make_active_user(runtime, "bystander", "bystander@example.com")
    loud_id = await make_active_user(runtime, LOUD, "loud@example.com")
    quiet_id = await make_active_user(runtime, "quiet", "quiet@example.com")
    (loud_post,) = await add_described_images(runtime, loud_id, "loudpost at the #sea")
    (quiet_post,) = await add_described_images(runtime, quiet_id, "quietpost at the #sea")
    for viewer_id in (muter_id, bystander_id):
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
    for client in (muter, bystander):
        token = (await (await client.get("/api/v1/me")).get_json())["csrf_token"]
        saved = await client.put(f"/api/v1/images/{loud_post}/save", headers=csrf_header(token))
        assert saved.status_code == 200
    muter_token = (await (await muter.get("/api/v1/me")).get_json())["csrf_token"]
    muted = await muter.put(f"/api/v1/users/{LOUD}/mute", headers=csrf_header(muter_token))
    assert muted.status_code == 200
    assert await user_id_of(runtime, LOUD) == loud_id
    return scene, muter, bystander


def carries_marker(body: str) -> bool:
    return any(marker in body for marker in MARKERS)


async def test_what_muting_changes_on_every_get_route(app: Quart, runtime: Runtime) -> None:
    scene, muter, bystander = await set_the_scene(app, runtime)
    failures: list[str] = []
    for endpoint, (muting, paths) in sorted(WALK.items()):
        for path in paths(scene):
            as_muter = await muter.get(path)
            as_bystander = await bystander.get(path)
            mine = (await as_muter.get_data()).decode(errors="replace")
            theirs = (await as_bystander.get_data()).decode(errors="replace")
            where = f"{endpoint} {path}"
            if as_muter.status_code >= 500 or as_bystander.status_code >= 500:
                failures.append(f"{where}: {as_muter.status_code}/{as_bystander.status_code}")
                continue
            if as_muter.status_code != as_bystander.status_code:
                failures.append(
                    f"{where}: muter {as_muter.status_code}, bystander {as_bystander.status_code}"
                )
                continue
            if muting is Muting.SPARED:
                if as_muter.status_code != 200 or carries_marker(mine):
                    failures.append(f"{where}: the muter still sees the muted account")
                if not carries_marker(theirs):
                    failures.append(f"{where}: the bystander does not see it (the walk is blind)")
            elif muting is Muting.SHOWN:
                if as_muter.status_code != 200 or not carries_marker(mine):
                    failures.append(f"{where}: the muter no longer sees what they went to")
            elif muting is Muting.MUTE_LIST and (LOUD not in mine or LOUD in theirs):
                failures.append(f"{where}: the list of muted accounts is wrong")
    assert failures == []


async def test_the_unread_count_leaves_out_the_muted_accounts_notices(
    app: Quart, runtime: Runtime
) -> None:
    """The one number of the walk: likes by loud and quiet, two notices, one hidden."""
    _, muter, bystander = await set_the_scene(app, runtime)
    muted = await (await muter.get("/api/v1/notifications/unread-count")).get_json()
    others = await (await bystander.get("/api/v1/notifications/unread-count")).get_json()
    assert (muted["unread_count"], others["unread_count"]) == (1, 2)

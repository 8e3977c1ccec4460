"""Private accounts, follow requests and followers-only posts (``services/privacy.py``,
``services/visibility.py``, ``web/private_media.py``).

``owner`` shares photos; ``friend`` follows (or asks to), ``stranger`` does not.
Every GET route is also walked for these in ``test_visibility_walk.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery.infra.runtime import Runtime
from gallery.models.image import Image
from gallery.models.social import Follow, FollowRequest, Notification
from gallery.services import ranking
from gallery.web import private_media
from tests.helpers import (
    count_rows,
    csrf_header,
    csrf_token,
    follow_redirect,
    make_active_user,
    page_html,
    post_form,
    sign_in,
)
from tests.images import add_described_images, api_upload, jpeg_bytes, upload_file
from tests.sockets import receive, subscribe


async def client_of(app: Quart, username: str) -> tuple[Client, str]:
    client = app.test_client()
    assert (await sign_in(client, username)).status_code == 302
    return client, await csrf_token(client)


async def people(runtime: Runtime, *names: str) -> dict[str, int]:
    return {name: await make_active_user(runtime, name, f"{name}@example.com") for name in names}


async def set_private(client: Client, token: str, private: bool) -> Any:
    response = await client.put(
        "/api/v1/me/privacy", json={"is_private": private}, headers=csrf_header(token)
    )
    assert response.status_code == 200, await response.get_data()
    return await response.get_json()


async def follow(client: Client, token: str, username: str, *, on: bool = True) -> Any:
    method = client.put if on else client.delete
    response = await method(f"/api/v1/users/{username}/follow", headers=csrf_header(token))
    assert response.status_code == 200, await response.get_data()
    return await response.get_json()


@dataclass(frozen=True)
class Circle:
    """``owner``, ``friend`` who follows them, and ``stranger`` who does not, signed in."""

    ids: dict[str, int]
    owner: Client
    owner_token: str
    friend: Client
    friend_token: str
    stranger: Client
    stranger_token: str


async def owner_with_a_follower(app: Quart, runtime: Runtime) -> Circle:
    ids = await people(runtime, "owner", "friend", "stranger")
    owner, owner_token = await client_of(app, "owner")
    friend, friend_token = await client_of(app, "friend")
    stranger, stranger_token = await client_of(app, "stranger")
    await follow(friend, friend_token, "owner")
    return Circle(ids, owner, owner_token, friend, friend_token, stranger, stranger_token)


async def answer(client: Client, token: str, username: str, *, accept: bool) -> Any:
    method = client.put if accept else client.delete
    return await method(f"/api/v1/follow-requests/{username}", headers=csrf_header(token))


async def feed_ids(client: Client, path: str) -> list[int]:
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return [item["id"] for item in (await response.get_json())["items"]]


async def followers_only_post(client: Client, token: str, description: str) -> int:
    """A post made through the API with ``visibility`` "followers"."""
    response = await api_upload(
        client, token, description=description, extra={"visibility": "followers"}
    )
    assert response.status_code == 201, await response.get_data()
    body = await response.get_json()
    assert body["visibility"] == "followers"
    return int(body["id"])


# -- private accounts and follow requests ---------------------------------------------


async def test_following_a_private_account_asks_and_the_owner_decides(
    app: Quart, runtime: Runtime
) -> None:
    ids = await people(runtime, "owner", "friend", "stranger")
    (post,) = await add_described_images(runtime, ids["owner"], "ownpost at home")
    owner, owner_token = await client_of(app, "owner")
    friend, friend_token = await client_of(app, "friend")
    stranger, stranger_token = await client_of(app, "stranger")
    assert await set_private(owner, owner_token, True) == {
        "is_private": True,
        "accepted_requests": 0,
    }

    # Before an answer: name and counts, no posts; the post itself is absent.
    for client in (friend, stranger, app.test_client()):
        profile = await (await client.get("/api/v1/users/owner")).get_json()
        assert (profile["is_private"], profile["image_count"]) == (True, 1)
        assert await feed_ids(client, "/api/v1/users/owner/images") == []
        assert (await client.get(f"/api/v1/images/{post}")).status_code == 404
        assert "ownpost" not in await page_html(client, "/u/owner")

    for _ in range(2):  # asking again is fine, and tells the owner once
        state = await follow(friend, friend_token, "owner")
        assert state == {"following": False, "follower_count": 0, "requested": True}
    await follow(stranger, stranger_token, "owner")
    asked = await (await friend.get("/api/v1/users/owner")).get_json()
    assert (asked["requested"], asked["following"]) == (True, False)
    assert "you asked to follow owner" in (await page_html(friend, "/u/owner")).replace(
        "You asked", "you asked"
    )

    listed = await (await owner.get("/api/v1/follow-requests")).get_json()
    assert [person["username"] for person in listed["items"]] == ["stranger", "friend"]
    notices = await (await owner.get("/api/v1/notifications")).get_json()
    assert sorted(n["text"] for n in notices["items"]) == [
        "friend asked to follow you",
        "stranger asked to follow you",
    ]
    assert all(n["url"] == "/follow-requests" for n in notices["items"])

    accepted = await answer(owner, owner_token, "friend", accept=True)
    assert await accepted.get_json() == {"username": "friend", "accepted": True}
    declined = await answer(owner, owner_token, "stranger", accept=False)
    assert await declined.get_json() == {"username": "stranger", "accepted": False}
    # Answered: gone from the list, and a second answer has nothing to answer.
    assert (await answer(owner, owner_token, "friend", accept=True)).status_code == 404
    assert (await (await owner.get("/api/v1/follow-requests")).get_json())["items"] == []
    assert await count_rows(runtime, FollowRequest) == 0
    assert await count_rows(runtime, Follow, Follow.follower_id == ids["friend"]) == 1
    assert await count_rows(runtime, Follow, Follow.follower_id == ids["stranger"]) == 0

    # The friend sees the posts now, on the profile, the post and the following feed.
    assert await feed_ids(friend, "/api/v1/users/owner/images") == [post]
    assert (await friend.get(f"/api/v1/images/{post}")).status_code == 200
    assert await feed_ids(friend, "/api/v1/feed/following") == [post]
    assert "ownpost" in await page_html(friend, "/u/owner")
    friend_notices = await (await friend.get("/api/v1/notifications")).get_json()
    assert [n["text"] for n in friend_notices["items"]] == ["owner accepted your follow request"]
    # The declined stranger still does not, and was not told.
    assert await feed_ids(stranger, "/api/v1/users/owner/images") == []
    assert (await stranger.get(f"/api/v1/images/{post}")).status_code == 404
    stranger_notices = await (await stranger.get("/api/v1/notifications")).get_json()
    assert stranger_notices["items"] == []
    # The owner's request notices went with the answers.
    owner_notices = await (await owner.get("/api/v1/notifications")).get_json()
    assert owner_notices["items"] == []


async def test_a_requester_withdraws_and_a_block_ends_requests(
    app: Quart, runtime: Runtime
) -> None:
    await people(runtime, "owner", "friend", "pest")
    owner, owner_token = await client_of(app, "owner")
    friend, friend_token = await client_of(app, "friend")
    pest, pest_token = await client_of(app, "pest")
    await set_private(owner, owner_token, True)
    await follow(friend, friend_token, "owner")
    await follow(pest, pest_token, "owner")
    assert await count_rows(runtime, Notification) == 2

    withdrawn = await follow(friend, friend_token, "owner", on=False)
    assert withdrawn == {"following": False, "follower_count": 0, "requested": False}
    blocked = await owner.put("/api/v1/users/pest/block", headers=csrf_header(owner_token))
    assert blocked.status_code == 200
    assert await count_rows(runtime, FollowRequest) == 0
    assert await count_rows(runtime, Notification) == 0
    assert (await answer(owner, owner_token, "friend", accept=True)).status_code == 404


async def test_turning_public_accepts_pending_requests_after_saying_so(
    app: Quart, runtime: Runtime
) -> None:
    ids = await people(runtime, "owner", "friend", "other")
    (post,) = await add_described_images(runtime, ids["owner"], "ownpost at home")
    owner, owner_token = await client_of(app, "owner")
    await set_private(owner, owner_token, True)
    for name in ("friend", "other"):
        client, token = await client_of(app, name)
        await follow(client, token, "owner")

    account = await page_html(owner, "/account")
    assert "accepts the 2 pending follow requests" in account
    assert "Make public and accept 2 requests" in account
    response = await post_form(owner, "/account/privacy", {"private": "0"})
    assert "The 2 pending follow requests were accepted." in await follow_redirect(
        owner, response, status=302
    )
    assert await count_rows(runtime, FollowRequest) == 0
    assert await count_rows(runtime, Follow, Follow.followed_id == ids["owner"]) == 2
    assert await feed_ids(app.test_client(), "/api/v1/feed") == [post]
    me = await (await owner.get("/api/v1/me")).get_json()
    assert me["is_private"] is False

    response = await post_form(owner, "/account/privacy", {"private": "1"})
    assert "Your account is private" in await follow_redirect(owner, response, status=302)
    assert await feed_ids(app.test_client(), "/api/v1/feed") == []
    # Followers stay followers when the account turns private.
    friend, _ = await client_of(app, "friend")
    assert await feed_ids(friend, "/api/v1/users/owner/images") == [post]


async def test_the_follow_requests_page_accepts_and_declines(app: Quart, runtime: Runtime) -> None:
    await people(runtime, "owner", "friend", "other")
    owner, owner_token = await client_of(app, "owner")
    await set_private(owner, owner_token, True)
    for name in ("friend", "other"):
        client, _ = await client_of(app, name)
        response = await post_form(client, "/u/owner/follow", {})
        assert "account is private: you asked to follow" in await follow_redirect(client, response)
        assert "data-follow-label>Requested<" in await page_html(client, "/u/owner")

    page = await page_html(owner, "/follow-requests")
    assert "friend" in page and "other" in page
    accepted = await post_form(owner, "/follow-requests/friend/accept", {})
    assert "friend follows you now." in await follow_redirect(owner, accepted)
    declined = await post_form(owner, "/follow-requests/other/decline", {})
    assert "You declined other&#39;s request" in await follow_redirect(owner, declined)
    assert "No requests" in await page_html(owner, "/follow-requests")
    missing = await post_form(owner, "/follow-requests/other/accept", {})
    assert missing.status_code == 404


# -- followers-only posts ---------------------------------------------------------------


async def test_a_followers_only_post_reaches_followers_and_nobody_else(
    app: Quart, runtime: Runtime
) -> None:
    circle = await owner_with_a_follower(app, runtime)
    ids, owner, owner_token = circle.ids, circle.owner, circle.owner_token
    friend, friend_token = circle.friend, circle.friend_token
    stranger, stranger_token = circle.stranger, circle.stranger_token
    (public_post,) = await add_described_images(runtime, ids["owner"], "everyone #sea")
    secret = await followers_only_post(owner, owner_token, "fopost for friends #sea")
    async with runtime.db.session() as session:
        await ranking.refresh_ranking(session, runtime.redis)
    anonymous = app.test_client()

    # The shared pages hold public posts only, for everyone alike.
    for client in (owner, friend, stranger, anonymous):
        for path in ("/api/v1/feed", "/api/v1/tags/sea/images", "/api/v1/feed/hot"):
            assert await feed_ids(client, path) == [public_post], path
        assert "fopost" not in await page_html(client, "/")
        assert "fopost" not in await page_html(client, "/tags/sea")
    # Where a follower looks with their own eyes, it is there.
    for client in (owner, friend):
        assert await feed_ids(client, "/api/v1/users/owner/images") == [secret, public_post]
        assert (await client.get(f"/api/v1/images/{secret}")).status_code == 200
        assert "Followers only" in await page_html(client, f"/images/{secret}")
        search = await (await client.get("/api/v1/search?q=fopost")).get_json()
        assert [item["id"] for item in search["items"]] == [secret]
    assert await feed_ids(friend, "/api/v1/feed/following") == [secret, public_post]
    # A stranger and an anonymous visitor: as if it did not exist.
    for client in (stranger, anonymous):
        assert await feed_ids(client, "/api/v1/users/owner/images") == [public_post]
        assert (await client.get(f"/api/v1/images/{secret}")).status_code == 404
        assert (await client.get(f"/api/v1/images/{secret}/comments")).status_code == 404
        assert (await client.get(f"/images/{secret}")).status_code == 404
        search = await (await client.get("/api/v1/search?q=fopost")).get_json()
        assert search["items"] == []
    counts = await (await stranger.get(f"/api/v1/images/counts?ids={secret}")).get_json()
    assert counts["items"] == []
    actions = (
        ("PUT", f"/api/v1/images/{secret}/like", None),
        ("PUT", f"/api/v1/images/{secret}/save", None),
        ("POST", f"/api/v1/images/{secret}/comments", {"content": "hello"}),
        ("POST", f"/api/v1/images/{secret}/report", {"reason": "spam"}),
    )
    for method, path, body in (
        *actions,
        ("PATCH", f"/api/v1/images/{secret}", {"visibility": "public"}),
        ("PATCH", f"/api/v1/images/{secret}", {"comments_enabled": False}),
        ("PATCH", f"/api/v1/images/{secret}", {"sensitive": True}),
        ("DELETE", f"/api/v1/images/{secret}", None),
    ):
        response = await stranger.open(
            path, method=method, json=body, headers=csrf_header(stranger_token)
        )
        assert response.status_code == 404, (method, path, response.status_code)
    # The follower may act on it like on any post.
    for method, path, body in actions:
        response = await friend.open(
            path, method=method, json=body, headers=csrf_header(friend_token)
        )
        assert response.status_code in (200, 201), (method, path, response.status_code)


async def test_the_author_changes_who_sees_a_post(app: Quart, runtime: Runtime) -> None:
    circle = await owner_with_a_follower(app, runtime)
    (post,) = await add_described_images(runtime, circle.ids["owner"], "changing post")
    owner, owner_token = circle.owner, circle.owner_token
    friend, friend_token = circle.friend, circle.friend_token
    anonymous = app.test_client()
    patched = await owner.patch(
        f"/api/v1/images/{post}", json={"visibility": "followers"}, headers=csrf_header(owner_token)
    )
    assert (patched.status_code, (await patched.get_json())["visibility"]) == (200, "followers")
    assert await feed_ids(anonymous, "/api/v1/feed") == []
    assert (await anonymous.get(f"/api/v1/images/{post}")).status_code == 404
    assert await feed_ids(friend, "/api/v1/feed/following") == [post]
    # Only the author chooses, and only the two known words.
    refused = await friend.patch(
        f"/api/v1/images/{post}", json={"visibility": "public"}, headers=csrf_header(friend_token)
    )
    assert refused.status_code == 403
    bad = await owner.patch(
        f"/api/v1/images/{post}", json={"visibility": "friends"}, headers=csrf_header(owner_token)
    )
    assert bad.status_code == 400
    # Through the edit form, back to everyone.
    form = await post_form(
        owner, f"/images/{post}/edit", {"description": "changing post", "visibility": "public"}
    )
    assert form.status_code == 303
    assert await feed_ids(anonymous, "/api/v1/feed") == [post]
    async with runtime.db.session() as session:
        assert (await session.get_one(Image, post)).is_public


async def test_an_upload_form_posts_for_followers_only(app: Quart, runtime: Runtime) -> None:
    await people(runtime, "owner")
    owner, _ = await client_of(app, "owner")
    assert 'value="followers"' in await page_html(owner, "/upload")
    token = await csrf_token(owner, "/upload")
    response = await owner.post(
        "/upload",
        form={"csrf_token": token, "description": "form post", "visibility": "followers"},
        files={"file": upload_file(jpeg_bytes())},
    )
    assert response.status_code == 303
    assert await feed_ids(app.test_client(), "/api/v1/feed") == []
    assert await feed_ids(owner, "/api/v1/users/owner/images") != []


# -- the media of posts that are not public ---------------------------------------------


def media_urls(body: str) -> list[str]:
    return sorted(set(re.findall(r"/media/[^\"' ,]+", body)))


async def test_followers_only_photos_have_signed_expiring_urls(
    app: Quart, runtime: Runtime
) -> None:
    circle = await owner_with_a_follower(app, runtime)
    owner, owner_token, friend = circle.owner, circle.owner_token, circle.friend
    secret = await followers_only_post(owner, owner_token, "fopost")
    item = await (await friend.get(f"/api/v1/images/{secret}")).get_json()
    photo = item["photos"][0]
    async with runtime.db.session() as session:
        stored = (await session.get_one(Image, secret)).photos[0]
        keys = stored.storage_keys
    # Every URL of the post is signed, and none tells where the file lies.
    urls = [item["url"], item["thumb_url"], photo["url"], *photo["srcset"].split(", ")]
    assert all(url.startswith("/media/private/") for url in urls)
    assert not any(key.split("/")[-1].split("_")[0] in str(item) for key in keys)

    fetched = await app.test_client().get(item["url"])  # anyone holding the URL, for a while
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == "image/jpeg"
    cache = fetched.headers["Cache-Control"]
    assert cache.startswith("private, max-age=")
    assert 0 < int(cache.split("=")[1]) <= 2 * private_media.WINDOW_SECONDS
    assert await fetched.get_data() == await runtime.storage.open(stored.display_key)

    parts = urlsplit(item["url"])
    query = parse_qs(parts.query)
    expires, signature = query["expires"][0], query["signature"][0]
    tampered = [
        f"{parts.path}?expires={int(expires) + 1}&signature={signature}",
        f"{parts.path}?expires={expires}&signature={'0' * len(signature)}",
        f"{parts.path.replace('display', 'original')}?expires={expires}&signature={signature}",
        parts.path,
    ]
    for url in tampered:
        assert (await app.test_client().get(url)).status_code == 404, url
    # An expired URL, signed correctly, is refused too.
    async with app.app_context():
        old = private_media.private_url(stored, stored.display_key, now=1_000_000)
    assert (await app.test_client().get(old)).status_code == 404
    # A public post keeps its plain, cacheable URLs.
    patched = await owner.patch(
        f"/api/v1/images/{secret}", json={"visibility": "public"}, headers=csrf_header(owner_token)
    )
    public_url = (await patched.get_json())["url"]
    assert not public_url.startswith(private_media.PATH_PREFIX)
    assert stored.display_key in public_url


# -- the live socket --------------------------------------------------------------------


async def test_the_live_socket_tells_only_followers_of_followers_only_posts(
    app: Quart, runtime: Runtime
) -> None:
    circle = await owner_with_a_follower(app, runtime)
    owner, owner_token = circle.owner, circle.owner_token
    friend, stranger = circle.friend, circle.stranger
    author_topic = f"author:{circle.ids['owner']}"

    async with (
        friend.websocket("/api/v1/live") as friends,
        stranger.websocket("/api/v1/live") as strangers,
        app.test_client().websocket("/api/v1/live") as anonymous,
    ):
        for socket in (friends, strangers, anonymous):
            assert (await receive(socket))["type"] == "hello"
        await subscribe(friends, author_topic, "following", "feed")
        for socket in (strangers, anonymous):
            await subscribe(socket, author_topic, "feed")
        secret = await followers_only_post(owner, owner_token, "fopost")
        heard = [await receive(friends), await receive(friends)]  # in either order
        assert sorted((m["type"], m["topic"], m["photo"]["id"]) for m in heard) == [
            ("photo.new", author_topic, secret),
            ("photo.new", "following", secret),
        ]
        for socket in (strangers, anonymous):
            skipped = await receive(socket)  # the sequence moves on, nothing more
            assert skipped == {"type": "skip", "topic": author_topic, "seq": skipped["seq"]} | {
                key: skipped[key] for key in skipped if key == "stream"
            }
            # Its own topic is refused, as for a post that does not exist.
            assert await subscribe(socket, f"photo:{secret}") == {f"photo:{secret}": None}
        assert await subscribe(friends, f"photo:{secret}") == {f"photo:{secret}": 0}

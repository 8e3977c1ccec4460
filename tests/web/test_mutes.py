"""Muting (``services/mutes.py``, ``services/visibility.py``): the muter stops seeing an
account in their feeds, search, notifications and live pushes, and nothing else changes.

Each test has three people: ``muter`` mutes ``loud``; ``other`` is a bystander
whose view must not change. The JSON routes and the pages are both walked.
"""

from __future__ import annotations

from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery.infra.runtime import Runtime
from gallery.models.social import Mute
from gallery.services import live, ranking
from tests.helpers import (
    add_follow,
    add_like,
    count_rows,
    csrf_header,
    csrf_token,
    follow_redirect,
    json_error_of,
    make_active_user,
    page_html,
    post_form,
    sign_in,
    signed_in,
    user_id_of,
)
from tests.images import add_described_images
from tests.sockets import receive, subscribe


async def get_json(client: Client, path: str) -> Any:
    response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return await response.get_json()


async def ids_in(client: Client, path: str, field: str = "items") -> set[int]:
    return {item["id"] for item in (await get_json(client, path))[field]}


async def mute(client: Client, token: str, username: str, *, on: bool = True) -> Any:
    path = f"/api/v1/users/{username}/mute"
    method = client.put if on else client.delete
    return await method(path, headers=csrf_header(token))


# Every feed that leaves the muted account's posts out, with the list field it answers in.
SPARED_FEEDS = [
    ("/api/v1/feed", "items"),
    ("/api/v1/feed/following", "items"),
    ("/api/v1/feed/hot", "items"),
    ("/api/v1/tags/sea/images", "items"),
    ("/api/v1/search?q=sea", "items"),
    ("/index/images/1/20/", "images"),
]


async def test_a_muted_accounts_posts_leave_the_muters_feeds_and_search_only(
    app: Quart, runtime: Runtime
) -> None:
    muter, token = await signed_in(app, runtime, "muter")
    loud_id = await make_active_user(runtime, "loud", "loud@example.com")
    quiet_id = await make_active_user(runtime, "quiet", "quiet@example.com")
    muter_id = await user_id_of(runtime, "muter")
    await add_follow(runtime, muter_id, "loud")
    await add_follow(runtime, muter_id, "quiet")
    loud_posts = set(await add_described_images(runtime, loud_id, "#sea one", "#sea two"))
    quiet_posts = set(await add_described_images(runtime, quiet_id, "#sea three"))
    other, _ = await signed_in(app, runtime, "other")
    other_id = await user_id_of(runtime, "other")
    await add_follow(runtime, other_id, "loud")
    await add_follow(runtime, other_id, "quiet")
    everything = loud_posts | quiet_posts
    async with runtime.db.session() as session:  # signing in ranked an empty site
        await ranking.refresh_ranking(session, runtime.redis)

    for path, field in SPARED_FEEDS:
        assert await ids_in(muter, path, field) == everything, path

    response = await mute(muter, token, "loud")
    assert response.status_code == 200
    assert await response.get_json() == {"muted": True}

    for path, field in SPARED_FEEDS:
        assert await ids_in(muter, path, field) == quiet_posts, path
        # Nobody else's view changes, signed in or not.
        assert await ids_in(other, path, field) == everything, path
        if "following" not in path:
            assert await ids_in(app.test_client(), path, field) == everything, path
    people = await get_json(muter, "/api/v1/search?q=lo&type=users")
    assert people["items"] == []
    assert [
        p["username"] for p in (await get_json(other, "/api/v1/search?q=lo&type=users"))["items"]
    ] == ["loud"]
    # Their profile still shows them: the muter went there on purpose.
    assert await ids_in(muter, "/api/v1/users/loud/images") == loud_posts
    assert await ids_in(muter, f"/profile/images/{loud_id}/1/20/", "images") == loud_posts
    home = await page_html(muter, "/")
    profile = await page_html(muter, "/u/loud")
    for post in loud_posts:
        assert f"/images/{post}" not in home
        assert f"/images/{post}" in profile
    assert "data-profile-muted" in profile
    # Following is untouched by muting.
    followers = (await get_json(muter, "/api/v1/users/loud/followers"))["items"]
    assert "muter" in {person["username"] for person in followers}

    response = await mute(muter, token, "loud", on=False)
    assert await response.get_json() == {"muted": False}
    for path, field in SPARED_FEEDS:
        assert await ids_in(muter, path, field) == everything, path


async def test_a_poll_with_the_old_etag_sees_the_mute_at_once(app: Quart, runtime: Runtime) -> None:
    """Muting moves no feed version; the muter's ETag must move all the same."""
    muter, token = await signed_in(app, runtime, "muter")
    loud_id = await make_active_user(runtime, "loud", "loud@example.com")
    (post,) = await add_described_images(runtime, loud_id, "hello")
    first = await muter.get("/api/v1/feed")
    etag = first.headers["ETag"]
    assert post in {item["id"] for item in (await first.get_json())["items"]}

    await mute(muter, token, "loud")
    polled = await muter.get("/api/v1/feed", headers={"If-None-Match": etag})
    assert polled.status_code == 200
    assert (await polled.get_json())["items"] == []
    again = await muter.get("/api/v1/feed", headers={"If-None-Match": polled.headers["ETag"]})
    assert again.status_code == 304


async def test_muting_is_idempotent_private_and_listed(app: Quart, runtime: Runtime) -> None:
    muter, token = await signed_in(app, runtime, "muter")
    for name in ("loud", "louder"):
        await make_active_user(runtime, name, f"{name}@example.com")
    for name in ("loud", "louder", "loud"):
        assert (await mute(muter, token, name)).status_code == 200
    assert await count_rows(runtime, Mute) == 2

    listed = await get_json(muter, "/api/v1/mutes?limit=1")
    assert [u["username"] for u in listed["items"]] == ["louder"]  # most recent first
    rest = await get_json(muter, f"/api/v1/mutes?limit=1&cursor={listed['next_cursor']}")
    assert [u["username"] for u in rest["items"]] == ["loud"]
    assert rest["next_cursor"] is None

    # The muted account learns nothing: no notice, no change to its counts.
    loud = await signed_in_as(app, "loud")
    assert (await get_json(loud, "/api/v1/notifications/unread-count"))["unread_count"] == 0
    assert (await get_json(loud, "/api/v1/mutes"))["items"] == []

    for _ in range(2):
        assert (await mute(muter, token, "loud", on=False)).status_code == 200
    assert [u["username"] for u in (await get_json(muter, "/api/v1/mutes"))["items"]] == ["louder"]


async def signed_in_as(app: Quart, username: str) -> Client:
    client = app.test_client()
    assert (await sign_in(client, username)).status_code == 302
    return client


async def test_muting_refusals(app: Quart, runtime: Runtime) -> None:
    muter, token = await signed_in(app, runtime, "muter")
    yourself = await mute(muter, token, "muter")
    assert yourself.status_code == 400
    assert "yourself" in (await json_error_of(yourself))["message"]
    nobody = await mute(muter, token, "nobody")
    assert nobody.status_code == 404
    visitor = app.test_client()
    anonymous = await mute(visitor, await csrf_token(visitor), "muter")
    assert anonymous.status_code == 401
    assert (await visitor.get("/api/v1/mutes")).status_code == 401
    assert await count_rows(runtime, Mute) == 0


async def test_a_muted_accounts_notices_are_hidden_until_unmuted(
    app: Quart, runtime: Runtime
) -> None:
    muter, token = await signed_in(app, runtime, "muter")
    muter_id = await user_id_of(runtime, "muter")
    loud_id = await make_active_user(runtime, "loud", "loud@example.com")
    fan_id = await make_active_user(runtime, "fan", "fan@example.com")
    (post,) = await add_described_images(runtime, muter_id, "mine")
    await add_like(runtime, loud_id, post)
    await add_like(runtime, fan_id, post)

    async def actors() -> list[str]:
        listed = await get_json(muter, "/api/v1/notifications")
        return sorted(entry["actor"]["username"] for entry in listed["items"])

    async def unread() -> int:
        return (await get_json(muter, "/api/v1/notifications/unread-count"))["unread_count"]

    assert (await actors(), await unread()) == (["fan", "loud"], 2)
    await mute(muter, token, "loud")
    assert (await actors(), await unread()) == (["fan"], 1)
    assert "loud" not in await page_html(muter, "/notifications")
    await mute(muter, token, "loud", on=False)
    assert (await actors(), await unread()) == (["fan", "loud"], 2)


async def test_the_profile_button_and_the_muted_page(app: Quart, runtime: Runtime) -> None:
    muter, _ = await signed_in(app, runtime, "muter")
    await make_active_user(runtime, "loud", "loud@example.com")
    profile = await page_html(muter, "/u/loud")
    assert 'action="/u/loud/mute"' in profile
    assert 'action="/u/loud/mute"' not in await page_html(muter, "/u/muter")  # not oneself
    assert "data-mute-form" not in await page_html(app.test_client(), "/u/loud")

    muted = await post_form(muter, "/u/loud/mute", {"next": "/u/loud"})
    assert muted.headers["Location"] == "/u/loud"
    page = await follow_redirect(muter, muted)
    assert "You muted loud" in page
    assert 'action="/u/loud/unmute"' in page
    listed = await page_html(muter, "/muted")
    assert 'data-person="loud"' in listed
    assert "/muted" in await page_html(muter, "/account")

    unmuted = await post_form(muter, "/u/loud/unmute", {"next": "/muted"})
    assert unmuted.headers["Location"] == "/muted"
    after = await follow_redirect(muter, unmuted)
    assert "You unmuted loud" in after
    assert "Nobody muted" in after


async def test_the_live_socket_spares_the_muter_new_photos_but_keeps_the_sequence(
    app: Quart, runtime: Runtime
) -> None:
    muter, token = await signed_in(app, runtime, "muter")
    muter_id = await user_id_of(runtime, "muter")
    loud_id = await make_active_user(runtime, "loud", "loud@example.com")
    quiet_id = await make_active_user(runtime, "quiet", "quiet@example.com")
    await add_follow(runtime, muter_id, "loud")
    await add_follow(runtime, muter_id, "quiet")

    async def post_by(author_id: int, name: str, image_id: int) -> None:
        await live.photo_posted(
            runtime.redis, image_id=image_id, author_id=author_id, author_username=name
        )

    async with muter.websocket("/api/v1/live") as socket:
        assert (await receive(socket))["type"] == "hello"
        await subscribe(socket, "feed", f"author:{loud_id}")
        await mute(muter, token, "loud")
        # The mute reaches the socket on the viewer's own stream first (with the
        # unread count, which may have changed: a muted account's notices are hidden).
        own = [await receive(socket), await receive(socket)]
        assert [m["type"] for m in own] == ["notifications", "relations.changed"]

        await post_by(loud_id, "loud", 901)
        by_topic = {}
        for _ in range(2):  # once for everyone's feed, once for loud's profile
            message = await receive(socket)
            by_topic[message["topic"]] = message
        assert by_topic["feed"]["type"] == "skip"  # the sequence goes on, the photo does not
        assert by_topic[f"author:{loud_id}"]["type"] == "photo.new"  # their profile shows it
        await post_by(quiet_id, "quiet", 902)
        message = await receive(socket)
        assert (message["type"], message["topic"], message["photo"]["id"]) == (
            "photo.new",
            "feed",
            902,
        )
        assert message["seq"] == by_topic["feed"]["seq"] + 1

    # The following feed no longer listens to a muted account at all.
    async with muter.websocket("/api/v1/live") as socket:
        await receive(socket)
        await subscribe(socket, "following")
        await post_by(loud_id, "loud", 903)
        await post_by(quiet_id, "quiet", 904)
        message = await receive(socket)
        assert (message["topic"], message["photo"]["id"]) == ("following", 904)

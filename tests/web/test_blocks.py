"""Blocking (``services/relations.py``, ``services/visibility.py``): the blocker and the
blocked no longer see each other anywhere, the blocked cannot act on the blocker's
posts, and the blocked account's comments on them are hidden from everyone.

``wall`` blocks ``pest``; ``bystander`` is a third person whose view of each of
them must not change. Every GET route is also walked in ``test_visibility_walk.py``.
"""

from __future__ import annotations

from typing import Any

import orjson
from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery.infra.runtime import Runtime
from gallery.models.social import Block, Follow
from tests.helpers import (
    add_comment,
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
    user_id_of,
)
from tests.images import add_described_images
from tests.sockets import receive, subscribe


async def client_of(app: Quart, username: str) -> tuple[Client, str]:
    client = app.test_client()
    assert (await sign_in(client, username)).status_code == 302
    return client, await csrf_token(client)


async def block(client: Client, token: str, username: str, *, on: bool = True) -> Any:
    method = client.put if on else client.delete
    return await method(f"/api/v1/users/{username}/block", headers=csrf_header(token))


async def three_people(app: Quart, runtime: Runtime) -> dict[str, int]:
    ids = {}
    for name in ("wall", "pest", "bystander"):
        ids[name] = await make_active_user(runtime, name, f"{name}@example.com")
    return ids


async def test_blocking_is_idempotent_listed_and_refused_for_oneself(
    app: Quart, runtime: Runtime
) -> None:
    await three_people(app, runtime)
    wall, token = await client_of(app, "wall")
    for _ in range(2):
        response = await block(wall, token, "pest")
        assert response.status_code == 200
        assert await response.get_json() == {"blocked": True}
    assert await count_rows(runtime, Block) == 1
    listed = await (await wall.get("/api/v1/blocks")).get_json()
    assert [person["username"] for person in listed["items"]] == ["pest"]

    yourself = await block(wall, token, "wall")
    assert yourself.status_code == 400
    assert "yourself" in (await json_error_of(yourself))["message"]
    assert (await block(wall, token, "nobody")).status_code == 404
    visitor = app.test_client()
    assert (await block(visitor, await csrf_token(visitor), "pest")).status_code == 401
    assert (await visitor.get("/api/v1/blocks")).status_code == 401

    for _ in range(2):
        response = await block(wall, token, "pest", on=False)
        assert await response.get_json() == {"blocked": False}
    assert (await (await wall.get("/api/v1/blocks")).get_json())["items"] == []


async def test_a_block_ends_the_follows_and_keeps_the_blocked_from_every_action(
    app: Quart, runtime: Runtime
) -> None:
    ids = await three_people(app, runtime)
    await add_follow(runtime, ids["wall"], "pest")
    await add_follow(runtime, ids["pest"], "wall")
    await add_follow(runtime, ids["bystander"], "wall")
    (post,) = await add_described_images(runtime, ids["wall"], "the wall's post")
    wall, wall_token = await client_of(app, "wall")
    pest, token = await client_of(app, "pest")
    await block(wall, wall_token, "pest")

    # The follows between them ended, both ways; nobody else's.
    assert await count_rows(runtime, Follow) == 1
    headers = csrf_header(token)
    refusals = {
        "follow": await pest.put("/api/v1/users/wall/follow", headers=headers),
        "like": await pest.put(f"/api/v1/images/{post}/like", headers=headers),
        "comment": await pest.post(
            f"/api/v1/images/{post}/comments", json={"content": "hi"}, headers=headers
        ),
        "report": await pest.post(
            f"/api/v1/images/{post}/report", json={"reason": "spam"}, headers=headers
        ),
        "save": await pest.put(f"/api/v1/images/{post}/save", headers=headers),
        "detail": await pest.get(f"/api/v1/images/{post}"),
        "profile": await pest.get("/api/v1/users/wall"),
    }
    assert {name: r.status_code for name, r in refusals.items()} == dict.fromkeys(refusals, 404)
    # Word for word what an absent post says: nothing tells a block from a deletion.
    assert (await json_error_of(refusals["detail"]))["message"] == (
        await json_error_of(await pest.get("/api/v1/images/999999"))
    )["message"]
    # Both ways: the blocker no longer sees the blocked either.
    assert (await wall.get("/api/v1/users/pest")).status_code == 404
    assert (
        await wall.put("/api/v1/users/pest/follow", headers=csrf_header(wall_token))
    ).status_code == 404
    # Others see both as before.
    bystander, _ = await client_of(app, "bystander")
    assert (await bystander.get(f"/api/v1/images/{post}")).status_code == 200
    assert (await bystander.get("/api/v1/users/pest")).status_code == 200

    # Unblocking brings visibility back, not the follows.
    await block(wall, wall_token, "pest", on=False)
    assert (await pest.get(f"/api/v1/images/{post}")).status_code == 200
    assert await count_rows(runtime, Follow) == 1


async def test_the_blocked_accounts_comments_on_the_blockers_posts_are_hidden_from_everyone(
    app: Quart, runtime: Runtime
) -> None:
    ids = await three_people(app, runtime)
    (walls_post,) = await add_described_images(runtime, ids["wall"], "the wall's post")
    (others_post,) = await add_described_images(runtime, ids["bystander"], "another post")
    await add_comment(runtime, ids["pest"], walls_post, "pest was here")
    await add_comment(runtime, ids["bystander"], walls_post, "lovely")
    await add_comment(runtime, ids["pest"], others_post, "pest elsewhere")
    wall, wall_token = await client_of(app, "wall")
    bystander, _ = await client_of(app, "bystander")
    await block(wall, wall_token, "pest")

    async def contents(client: Client, image_id: int) -> list[str]:
        listed = await (await client.get(f"/api/v1/images/{image_id}/comments")).get_json()
        return [comment["content"] for comment in listed["items"]]

    async def first_comments(client: Client, image_id: int) -> list[str]:
        feed = await (await client.get("/api/v1/feed")).get_json()
        (card,) = [item for item in feed["items"] if item["id"] == image_id]
        return [comment["content"] for comment in card["comments"]]

    # On the blocker's post: hidden from everyone, anonymous visitors too.
    for client in (wall, bystander, app.test_client()):
        assert await contents(client, walls_post) == ["lovely"]
        assert await first_comments(client, walls_post) == ["lovely"]
    # Elsewhere: hidden from the blocker only.
    assert await contents(wall, others_post) == []
    assert await first_comments(wall, others_post) == []
    assert await contents(bystander, others_post) == ["pest elsewhere"]
    assert await first_comments(bystander, others_post) == ["pest elsewhere"]
    assert "pest elsewhere" not in await page_html(wall, f"/images/{others_post}")

    # Unblocked, they show again to everyone, on the shared pages too.
    await block(wall, wall_token, "pest", on=False)
    for client in (wall, bystander, app.test_client()):
        assert await contents(client, walls_post) == ["pest was here", "lovely"]
        assert await first_comments(client, walls_post) == ["pest was here", "lovely"]


async def test_notices_between_them_stop_both_ways(app: Quart, runtime: Runtime) -> None:
    ids = await three_people(app, runtime)
    (walls_post,) = await add_described_images(runtime, ids["wall"], "the wall's post")
    (pests_post,) = await add_described_images(runtime, ids["pest"], "the pest's post")
    await add_like(runtime, ids["pest"], walls_post)
    await add_like(runtime, ids["wall"], pests_post)
    await add_like(runtime, ids["bystander"], walls_post)
    wall, wall_token = await client_of(app, "wall")
    pest, _ = await client_of(app, "pest")
    await block(wall, wall_token, "pest")

    async def actors(client: Client) -> list[str]:
        listed = await (await client.get("/api/v1/notifications")).get_json()
        return [entry["actor"]["username"] for entry in listed["items"]]

    assert await actors(wall) == ["bystander"]
    assert await actors(pest) == []
    unread = await (await pest.get("/api/v1/notifications/unread-count")).get_json()
    assert unread["unread_count"] == 0


async def test_counts_and_search_leave_the_other_out(app: Quart, runtime: Runtime) -> None:
    ids = await three_people(app, runtime)
    (walls_post,) = await add_described_images(runtime, ids["wall"], "harbour at dawn")
    (others_post,) = await add_described_images(runtime, ids["bystander"], "harbour at dusk")
    wall, wall_token = await client_of(app, "wall")
    pest, _ = await client_of(app, "pest")
    await block(wall, wall_token, "pest")

    counted = await (
        await pest.get(f"/api/v1/images/counts?ids={walls_post},{others_post}")
    ).get_json()
    assert [item["id"] for item in counted["items"]] == [others_post]
    found = await (await pest.get("/api/v1/search?q=harbour")).get_json()
    assert [item["id"] for item in found["items"]] == [others_post]
    people = await (await pest.get("/api/v1/search?q=wa&type=users")).get_json()
    assert people["items"] == []
    people = await (await wall.get("/api/v1/search?q=pe&type=users")).get_json()
    assert people["items"] == []


async def test_the_block_button_and_the_blocked_page(app: Quart, runtime: Runtime) -> None:
    ids = await three_people(app, runtime)
    (pests_post,) = await add_described_images(runtime, ids["pest"], "the pest's post")
    wall, _ = await client_of(app, "wall")
    assert 'action="/u/pest/block"' in await page_html(wall, "/u/pest")
    assert 'action="/u/pest/block"' in await page_html(wall, f"/images/{pests_post}")
    assert 'action="/u/wall/block"' not in await page_html(wall, "/u/wall")

    blocked = await post_form(wall, "/u/pest/block", {})
    assert blocked.headers["Location"] == "/blocked"
    page = await follow_redirect(wall, blocked)
    assert "You blocked pest" in page
    assert 'data-person="pest"' in page
    await page_html(wall, "/u/pest", status=404)
    await page_html(wall, f"/images/{pests_post}", status=404)

    unblocked = await post_form(wall, "/u/pest/unblock", {"next": "/blocked"})
    after = await follow_redirect(wall, unblocked)
    assert "You unblocked pest" in after
    assert "Nobody blocked" in after
    await page_html(wall, "/u/pest")


async def test_the_live_socket_hears_nothing_from_across_a_block(
    app: Quart, runtime: Runtime
) -> None:
    ids = await three_people(app, runtime)
    (walls_post,) = await add_described_images(runtime, ids["wall"], "the wall's post")
    (others_post,) = await add_described_images(runtime, ids["bystander"], "another post")
    wall, wall_token = await client_of(app, "wall")
    pest, _ = await client_of(app, "pest")
    await block(wall, wall_token, "pest")

    async with pest.websocket("/api/v1/live") as socket:
        assert (await receive(socket))["type"] == "hello"
        seqs = await subscribe(
            socket, f"photo:{walls_post}", f"author:{ids['wall']}", f"photo:{others_post}"
        )
        # As for an id that does not exist: no stream behind it.
        assert seqs == {
            f"photo:{walls_post}": None,
            f"author:{ids['wall']}": None,
            f"photo:{others_post}": 0,
        }
        await add_like(runtime, ids["bystander"], walls_post)
        await add_like(runtime, ids["bystander"], others_post)
        message = await receive(socket)
        assert (message["type"], message["id"]) == ("photo.counts", others_post)

    async with wall.websocket("/api/v1/live") as socket:
        await receive(socket)
        await subscribe(socket, f"photo:{others_post}")
        await add_comment(runtime, ids["pest"], others_post, "pest elsewhere")
        await add_comment(runtime, ids["bystander"], others_post, "lovely")
        skipped = await receive(socket)
        assert skipped["type"] == "skip"  # the pest's comment, its sequence kept
        shown = await receive(socket)
        assert (shown["type"], shown["comment"]["content"]) == ("comment.new", "lovely")
        assert shown["seq"] == skipped["seq"] + 1


async def test_a_block_reaches_open_sockets_of_both(app: Quart, runtime: Runtime) -> None:
    ids = await three_people(app, runtime)
    (walls_post,) = await add_described_images(runtime, ids["wall"], "the wall's post")
    wall, wall_token = await client_of(app, "wall")
    pest, _ = await client_of(app, "pest")
    assert await user_id_of(runtime, "pest") == ids["pest"]

    async with pest.websocket("/api/v1/live") as socket:
        await receive(socket)
        assert await subscribe(socket, f"photo:{walls_post}") == {f"photo:{walls_post}": 0}
        await block(wall, wall_token, "pest")
        kinds = set()
        while "relations.changed" not in kinds:
            kinds.add((await receive(socket))["type"])
        # The pest's open page stops hearing of the wall's post at once.
        await add_like(runtime, ids["bystander"], walls_post)
        await socket.send(orjson.dumps({"type": "ping"}).decode())
        assert (await receive(socket))["type"] == "pong"

"""Feed polls answered in front of Quart: exactly what the app would answer."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import update

from gallery.infra.runtime import Runtime
from gallery.models.social import Save
from gallery.models.user import User
from gallery.web.fast_path import VIEWER_MAX_AGE_SECONDS, FeedFastPath
from tests.helpers import add_like, csrf_header, make_active_user, signed_in, user_id_of
from tests.images import add_image_rows

ROUTES = (
    "/api/v1/feed",
    "/api/v1/feed?limit=2",
    "/api/v1/users/alice/images?limit=3",
    "/index/images/1/2/",
    "/index/images/2/500/",
)
# Any cookie sends a request through the app (it may carry a sign-in).
THROUGH_THE_APP = {"Cookie": "unrelated=1"}


def app_never_called(app: Quart, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*_args: object) -> None:
        raise AssertionError("the app handled a request the fast path should have answered")

    monkeypatch.setattr(app, "handle_request", refuse)


def comparable(headers: object) -> dict[str, str]:
    return {k.lower(): v for k, v in dict(headers).items() if k.lower() != "date"}  # type: ignore[call-overload]


@pytest.mark.parametrize("path", ROUTES)
async def test_a_cached_page_and_its_304_are_the_apps_own(
    app: Quart, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 5)
    from_app = await app.test_client().get(path, headers=THROUGH_THE_APP)
    assert from_app.status_code == 200
    etag = from_app.headers["ETag"]
    app_304 = await app.test_client().get(path, headers={**THROUGH_THE_APP, "If-None-Match": etag})

    app_never_called(app, monkeypatch)
    fast = await app.test_client().get(path)
    assert fast.status_code == 200
    assert await fast.get_data() == await from_app.get_data()
    assert comparable(fast.headers) == comparable(from_app.headers)
    fast_304 = await app.test_client().get(path, headers={"If-None-Match": etag})
    assert fast_304.status_code == 304 and await fast_304.get_data() == b""
    assert comparable(fast_304.headers) == comparable(app_304.headers)


async def test_a_page_this_process_has_not_built_goes_to_the_app(
    app: Quart, runtime: Runtime
) -> None:
    alice = await make_active_user(runtime)
    ids = await add_image_rows(runtime, alice, 3)
    # The first anonymous request finds nothing cached: the app builds the page.
    page = await (await app.test_client().get("/api/v1/feed")).get_json()
    assert [item["id"] for item in page["items"]] == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/feed?limit=abc",
        "/api/v1/feed?limit=0",
        "/api/v1/feed?cursor=not-ours",
        "/api/v1/feed?limit=1&limit=2",
        "/index/images/0/10/",
        "/index/images/1/0/",
        "/api/v1/users/nobody/images",
    ],
)
async def test_what_it_cannot_judge_the_app_refuses(
    app: Quart, runtime: Runtime, path: str
) -> None:
    await add_image_rows(runtime, await make_active_user(runtime), 2)
    await app.test_client().get("/api/v1/feed")
    response = await app.test_client().get(path)
    assert 400 <= response.status_code < 500, path
    assert "error" in await response.get_json()


async def test_an_old_etag_never_gets_a_304_from_the_fast_path(
    app: Quart, runtime: Runtime
) -> None:
    alice = await make_active_user(runtime)
    await add_image_rows(runtime, alice, 2)
    old = (await app.test_client().get("/api/v1/feed")).headers["ETag"]
    assert runtime.redis is not None
    from gallery.services.feeds import bump_feed_version

    await bump_feed_version(runtime.redis)  # what every committed write does
    polled = await app.test_client().get("/api/v1/feed", headers={"If-None-Match": old})
    assert polled.status_code == 200 and polled.headers["ETag"] != old


# -- signed-in polls of everyone's feed ----------------------------------------------


def the_fast_path(app: Quart) -> FeedFastPath:
    layer = app.asgi_app
    while not isinstance(layer, FeedFastPath):
        layer = layer.app  # type: ignore[attr-defined]
    return layer


@contextlib.contextmanager
def only_the_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every request answered by the app itself (the fast path declines them all)."""

    async def decline(*_args: object) -> bool:
        return False

    with monkeypatch.context() as patched:
        patched.setattr(FeedFastPath, "_answer", decline)
        yield


async def feed_of(client: Client, path: str = "/api/v1/feed") -> tuple[Any, dict[int, Any]]:
    """The response, and its items by id."""
    response = await client.get(path)
    assert response.status_code == 200
    return response, {item["id"]: item for item in (await response.get_json())["items"]}


async def a_reader_of_a_busy_feed(app: Quart, runtime: Runtime) -> tuple[Client, str, list[int]]:
    """Bob, signed in, who liked the newest of alice's five posts; his client, CSRF token,
    the ids (oldest first)."""
    bob, token = await signed_in(app, runtime, "bob")
    alice = await make_active_user(runtime)
    ids = await add_image_rows(runtime, alice, 5)
    await add_like(runtime, await user_id_of(runtime, "bob"), ids[-1])
    return bob, token, ids


@pytest.mark.parametrize("path", ["/api/v1/feed", "/api/v1/feed?limit=2"])
async def test_a_signed_in_poll_gets_the_apps_own_answer(
    app: Quart, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    bob, _, ids = await a_reader_of_a_busy_feed(app, runtime)
    with only_the_app(monkeypatch):
        from_app, items = await feed_of(bob, path)
        etag = from_app.headers["ETag"]
        app_304 = await bob.get(path, headers={"If-None-Match": etag})
    assert items[ids[-1]]["liked"] is True  # his own copy, not the shared page
    assert app_304.status_code == 304

    app_never_called(app, monkeypatch)
    fast, _ = await feed_of(bob, path)
    assert await fast.get_data() == await from_app.get_data()
    assert comparable(fast.headers) == comparable(from_app.headers)
    assert "Set-Cookie" not in fast.headers
    fast_304 = await bob.get(path, headers={"If-None-Match": etag})
    assert fast_304.status_code == 304 and await fast_304.get_data() == b""
    assert comparable(fast_304.headers) == comparable(app_304.headers)
    # Somebody else's tag is not his: nor is the anonymous one.
    anonymous = (await app.test_client().get(path)).headers["ETag"]
    assert anonymous != etag
    stale = await bob.get(path, headers={"If-None-Match": anonymous})
    assert stale.status_code == 200


async def test_a_save_or_a_mute_shows_in_the_very_next_poll(app: Quart, runtime: Runtime) -> None:
    """Saves and mutes move no feed version; the account's generation tells every
    process that what it kept of the viewer is old."""
    bob, token, ids = await a_reader_of_a_busy_feed(app, runtime)
    carol = await make_active_user(runtime, "carol", "carol@example.com")
    carols = await add_image_rows(runtime, carol, 2)
    for _ in range(2):  # the second is the fast path's, with what it keeps of bob
        _, items = await feed_of(bob)
        assert items[ids[1]].get("saved") is not True and set(carols) <= set(items)

    saved = await bob.put(f"/api/v1/images/{ids[1]}/save", headers=csrf_header(token))
    assert saved.status_code == 200
    _, items = await feed_of(bob)
    assert items[ids[1]]["saved"] is True
    await feed_of(bob)  # kept again, with the new figures

    muted = await bob.put("/api/v1/users/carol/mute", headers=csrf_header(token))
    assert muted.status_code == 200
    _, items = await feed_of(bob)
    assert not set(carols) & set(items) and ids[1] in items

    unsaved = await bob.delete(f"/api/v1/images/{ids[1]}/save", headers=csrf_header(token))
    assert unsaved.status_code == 200
    _, items = await feed_of(bob)
    assert items[ids[1]].get("saved") is not True


async def test_figures_changed_behind_its_back_are_reread_after_their_age_limit(
    app: Quart, runtime: Runtime
) -> None:
    """A change whose generation could not be moved (Redis lost right after the
    commit) is served for at most VIEWER_MAX_AGE_SECONDS."""
    bob, _, ids = await a_reader_of_a_busy_feed(app, runtime)
    for _ in range(2):
        await feed_of(bob)
    async with runtime.db.session() as session:  # a save without its generation
        bob_id = await user_id_of(runtime, "bob")
        session.add(Save(user_id=bob_id, image_id=ids[2]))
        await session.execute(
            update(User).where(User.id == bob_id).values(saves_version=User.saves_version + 1)
        )
        await session.commit()
    _, items = await feed_of(bob)
    assert items[ids[2]].get("saved") is not True  # what the process kept, for now

    the_fast_path(app).clock = lambda: time.monotonic() + VIEWER_MAX_AGE_SECONDS
    _, items = await feed_of(bob)
    assert items[ids[2]]["saved"] is True


async def test_an_ended_sign_in_is_answered_by_the_app(app: Quart, runtime: Runtime) -> None:
    bob, _, ids = await a_reader_of_a_busy_feed(app, runtime)
    for _ in range(2):
        _, items = await feed_of(bob)
        assert items[ids[-1]]["liked"] is True
    assert runtime.sign_ins is not None
    await runtime.sign_ins.revoke_all(await user_id_of(runtime, "bob"))

    response, items = await feed_of(bob)
    assert "liked" not in items[ids[-1]] or items[ids[-1]]["liked"] is False
    assert "gallery_auth=;" in response.headers["Set-Cookie"]  # the app dropped it


async def test_a_sign_in_due_to_record_its_activity_goes_through_the_app(
    app: Quart, runtime: Runtime
) -> None:
    bob, _, _ = await a_reader_of_a_busy_feed(app, runtime)
    await feed_of(bob)
    assert runtime.redis is not None
    (key,) = [key async for key in runtime.redis.scan_iter("auth:*")]
    long_ago = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    await runtime.redis.hset(key, "last_seen_at", long_ago)

    await feed_of(bob)
    seen = datetime.fromisoformat(await runtime.redis.hget(key, "last_seen_at"))
    assert datetime.now(UTC) - seen < timedelta(minutes=1)


async def test_cookies_without_a_sign_in_go_to_the_app(
    app: Quart, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_image_rows(runtime, await make_active_user(runtime), 2)
    await app.test_client().get("/api/v1/feed")  # the page is built and kept
    called: list[str] = []
    handle_request = app.handle_request

    async def spy(request: Any) -> Any:
        called.append(request.path)
        return await handle_request(request)

    monkeypatch.setattr(app, "handle_request", spy)
    for cookie in ("unrelated=1", "gallery_auth=forged.value.here", "gallery_auth="):
        response = await app.test_client().get("/api/v1/feed", headers={"Cookie": cookie})
        assert response.status_code == 200
    assert called == ["/api/v1/feed"] * 3

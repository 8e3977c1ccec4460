"""Redis or the database unreachable: public reads go on, the rest is a clear 503.

The app under test is built on the test back-end's data but pointed at an
address where nothing listens (a real refusal, as when a server is stopped).
The fault drills (tests/faults) do the same to running servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from quart import Quart

from gallery import create_app
from gallery.infra import runtime as runtime_module
from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from tests.conftest import build_settings
from tests.helpers import add_image_with_comments, add_user_row, signed_in
from tests.mailbox import free_port


@pytest.fixture
async def without_redis(
    backend: dict[str, object], instance_root: object, clean: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Quart]:
    """The app with its Redis at a port nothing listens on (it starts without it)."""
    monkeypatch.setattr(runtime_module, "STARTUP_REDIS_WAIT_SECONDS", 0.2)
    settings = build_settings(
        backend, instance_root, redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )  # type: ignore[arg-type]
    application = create_app(settings)
    async with application.test_app():
        yield application


@pytest.fixture
async def without_database(settings: Settings, clean: None) -> AsyncIterator[Quart]:
    """The app with its database at a MariaDB port nothing listens on."""
    dead = f"mysql+asyncmy://root@127.0.0.1:{free_port()}/gallery?charset=utf8mb4"
    application = create_app(settings.model_copy(update={"database_url": dead}))
    async with application.test_app():
        yield application


def assert_outage_answer(response: object, *, json: bool) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert response.status_code == 503  # type: ignore[attr-defined]
    assert headers["Retry-After"] == "5"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in headers
    assert headers["Content-Type"].startswith("application/json" if json else "text/html")


async def test_public_feeds_are_served_from_the_database_without_redis(
    app: Quart, runtime: Runtime, without_redis: Quart
) -> None:
    await add_user_row(runtime, "ann")
    image_id, _ = await add_image_with_comments(runtime, "ann")
    client = without_redis.test_client()
    for path in ("/api/v1/feed", "/api/v1/users/ann/images", "/api/v1/tags/none/images"):
        response = await client.get(path)
        assert response.status_code in (200, 404), path
        assert "ETag" not in response.headers  # no feed version to vouch for it
    feed = await (await client.get("/api/v1/feed")).get_json()
    assert [item["id"] for item in feed["items"]] == [image_id]
    seed = await (await client.get("/index/images/1/5/")).get_json()
    assert [item["id"] for item in seed["images"]] == [image_id]
    assert (await client.get(f"/api/v1/images/{image_id}")).status_code == 200


async def test_what_needs_redis_answers_503_with_retry_after(
    app: Quart, runtime: Runtime, without_redis: Quart
) -> None:
    client = without_redis.test_client()
    assert_outage_answer(await client.get("/api/v1/feed/hot"), json=True)
    body = await (await client.get("/api/v1/feed/hot")).get_json()
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"


async def test_a_signed_in_visitor_gets_503_not_a_signed_out_page(
    app: Quart, runtime: Runtime, without_redis: Quart
) -> None:
    working, _ = await signed_in(app, runtime)
    client = without_redis.test_client()
    for cookie in working.cookie_jar:  # type: ignore[attr-defined]
        client.set_cookie(cookie.domain, cookie.name, cookie.value or "")
    assert_outage_answer(await client.get("/api/v1/me"), json=True)
    assert_outage_answer(await client.get("/api/v1/feed/following"), json=True)
    # Everyone's feed, signed in: the fast path cannot read the sign-in, the app answers.
    assert_outage_answer(await client.get("/api/v1/feed"), json=True)
    # Redis kept the sign-in: the working app still knows the visitor.
    assert (await working.get("/api/v1/me")).status_code == 200


async def test_no_database_is_503_with_retry_after(without_database: Quart) -> None:
    client = without_database.test_client()
    assert_outage_answer(await client.get("/api/v1/feed"), json=True)
    assert_outage_answer(await client.get("/index/images/1/5/"), json=True)
    assert_outage_answer(await client.get("/u/ann"), json=False)


async def test_a_signed_in_poll_without_the_database_is_503(
    app: Quart, runtime: Runtime, without_database: Quart
) -> None:
    """The sign-in is in Redis, which works; the account behind it cannot be read."""
    working, _ = await signed_in(app, runtime)
    assert (await working.get("/api/v1/feed")).status_code == 200
    # An anonymous poll first, from the page Redis still holds: this app makes its
    # page cache, so the signed-in poll below goes through the fast path first.
    assert (await without_database.test_client().get("/api/v1/feed")).status_code == 200
    client = without_database.test_client()
    for cookie in working.cookie_jar:  # type: ignore[attr-defined]
        client.set_cookie(cookie.domain, cookie.name, cookie.value or "")
    assert_outage_answer(await client.get("/api/v1/feed"), json=True)

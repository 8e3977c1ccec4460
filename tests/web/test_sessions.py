"""Quart's session in Redis: nothing kept for strangers, hours for anonymous flashes,
the sign-in's lifetime for signed-in visitors, and a Redis outage at session-open time
answered by the app (503 where the session is needed), never by the server's bare 500."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery import create_app
from gallery.infra.redis import EmbeddedRedis, connect
from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from gallery.web.sessions import RedisSessionInterface
from tests.helpers import META_CSRF, json_error_of, make_active_user, post_form, sign_in

SESSION_KEYS = RedisSessionInterface.KEY_PREFIX + "*"
HOUR = 3600
DAY = 24 * HOUR


async def session_keys(runtime: Runtime) -> list[str]:
    return sorted(await runtime.redis.keys(SESSION_KEYS))


async def the_session_ttl(runtime: Runtime) -> int:
    """The TTL of the one server-side session Redis holds."""
    [key] = await session_keys(runtime)
    return int(await runtime.redis.ttl(key))


async def test_strangers_without_cookies_store_nothing(app: Quart, runtime: Runtime) -> None:
    paths = ("/login", "/", "/register")
    # The first visits may build what every visitor shares (the feed version,
    # the cached page of the feed): state bounded by the site, not by visitors.
    for path in paths:
        assert (await app.test_client().get(path)).status_code == 200
    keys_before = await runtime.redis.dbsize()

    for n in range(1000):
        response = await app.test_client().get(paths[n % len(paths)])
        assert response.status_code == 200
        assert "gallery_session=" not in response.headers.get("Set-Cookie", "")

    assert await session_keys(runtime) == []
    assert await runtime.redis.dbsize() == keys_before


async def test_an_anonymous_flash_is_kept_for_hours(
    client: Client, runtime: Runtime, settings: Settings
) -> None:
    response = await post_form(client, "/password/forgot", {"email": "nobody@example.com"})
    assert response.status_code == 302

    ttl = await the_session_ttl(runtime)
    assert settings.anonymous_session_hours == 2
    assert HOUR < ttl <= 2 * HOUR
    page = await (await client.get(response.headers["Location"])).get_data(as_text=True)
    assert "If an account uses nobody@example.com" in page
    # Shown, the flash is gone, and so is the session.
    assert await session_keys(runtime) == []


async def test_the_anonymous_lifetime_is_a_setting(settings: Settings, clean: None) -> None:
    app = create_app(settings.model_copy(update={"anonymous_session_hours": 5}))
    async with app.test_app():
        runtime: Runtime = app.extensions["gallery"]
        client = app.test_client()
        await post_form(client, "/password/forgot", {"email": "nobody@example.com"})
        assert 4 * HOUR < await the_session_ttl(runtime) <= 5 * HOUR


async def test_a_signed_in_session_keeps_the_long_lifetime_and_signing_out_shortens_it(
    client: Client, runtime: Runtime, settings: Settings
) -> None:
    await make_active_user(runtime)
    assert (await sign_in(client)).status_code == 302
    assert await the_session_ttl(runtime) > settings.remember_ttl_seconds - DAY

    # Signing out leaves an anonymous session (its "signed out" flash), for hours.
    assert (await post_form(client, "/logout", {})).status_code == 302
    assert await the_session_ttl(runtime) <= 2 * HOUR


async def test_a_dead_sign_in_cookie_does_not_buy_a_long_session(
    app: Quart, client: Client, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    await sign_in(client)
    stolen = {c.name: c.value for c in client.cookie_jar}  # type: ignore[union-attr]
    await post_form(client, "/logout", {})
    await client.get("/")  # the flash shown: no session left
    assert await session_keys(runtime) == []

    # The old sign-in cookie (its signature still holds) on a request that flashes.
    replay = await app.test_client().get(
        "/activate/not-a-token", headers={"Cookie": f"gallery_auth={stolen['gallery_auth']}"}
    )
    assert replay.status_code == 302
    assert await the_session_ttl(runtime) <= 2 * HOUR


# -- Redis unreachable when the session is opened ----------------------------------------


@pytest.fixture
async def private_redis() -> AsyncIterator[EmbeddedRedis]:
    """A redis-server of this test's own, which the test may stop (and it is gone after)."""
    directory = Path(tempfile.mkdtemp(prefix="gal-r-", dir="/tmp"))
    server = EmbeddedRedis(directory)
    await server.ensure_running()
    try:
        yield server
    finally:
        await server.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def test_an_unreachable_session_store_answers_503_and_keeps_the_session(
    settings: Settings, clean: None, private_redis: EmbeddedRedis
) -> None:
    app = create_app(settings.model_copy(update={"redis_url": private_redis.url}))
    async with app.test_app():
        runtime: Runtime = app.extensions["gallery"]
        await make_active_user(runtime)
        browser = app.test_client()
        assert (await sign_in(browser)).status_code == 302
        assert (await browser.get("/account")).status_code == 200  # the session holds a token
        [key] = await session_keys(runtime)
        stored = await runtime.redis.get(key)

        await private_redis.stop()

        page = await browser.get("/account")
        assert page.status_code == 503
        assert page.mimetype == "text/html"
        assert "try again" in await page.get_data(as_text=True)
        assert page.headers["Cache-Control"] == "no-store"
        assert int(page.headers["Retry-After"]) > 0

        api = await browser.get("/api/v1/me")
        assert api.status_code == 503
        assert "try again" in (await json_error_of(api))["message"]

        form = await browser.post("/logout", form={"csrf_token": "whatever"})
        assert form.status_code == 503

        # A visitor without cookies needs no session store for a page.
        stranger = await app.test_client().get("/login")
        assert stranger.status_code == 200
        assert META_CSRF.search(await stranger.get_data(as_text=True))

        # An anonymous visitor's safe read goes on without its (unread) session.
        anonymous = app.test_client()
        session_cookie = next(
            c.value
            for c in browser.cookie_jar  # type: ignore[union-attr]
            if c.name == "gallery_session"
        )
        read = await anonymous.get(
            "/login", headers={"Cookie": f"gallery_session={session_cookie}"}
        )
        assert read.status_code == 200

    # Nothing was written over or deleted while Redis was away.
    await private_redis.ensure_running()
    direct = connect(private_redis.url)
    try:
        assert await direct.get(key) == stored
    finally:
        await direct.aclose()

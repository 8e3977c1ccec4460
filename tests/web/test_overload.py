"""Overload is a quick 503 with Retry-After, never a 500 or a pile-up.

Two ways: a wait for a pooled connection that runs out of time (the pools are
held from the test, so the wait is real), and the per-process limit on
requests in flight, which refuses before Redis or the database are asked.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from gallery.web.overload import OverloadGuard
from tests.helpers import add_user_row, signed_in
from tests.pools import (
    holding_db_connections,
    holding_redis_connections,
    redis_pool_waiters,
    running_app,
    until,
)

Backend = dict[str, object]


async def assert_overloaded_json(response: Any) -> None:
    assert response.status_code == 503, await response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    assert response.content_type == "application/json"
    body = await response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "OVERLOADED"
    assert "try again" in body["error"]["message"]


async def assert_overloaded_page(response: Any) -> None:
    assert response.status_code == 503, await response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
    assert response.mimetype == "text/html"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Too busy" in await response.get_data(as_text=True)


def assert_one_line_each(caplog: pytest.LogCaptureFixture, refusals: int) -> None:
    """A warning line per refused request; no traceback, nothing at ERROR."""
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == refusals, [r.getMessage() for r in warnings]
    assert all(r.getMessage().startswith("503 for GET /") for r in warnings)


def guard(app: Quart) -> OverloadGuard:
    assert isinstance(app.asgi_app, OverloadGuard)
    return app.asgi_app


async def test_a_database_wait_that_times_out_is_a_503_with_retry_after(
    backend: Backend, instance_root: Path, clean: None, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_app(
        backend, instance_root, db_pool_size=1, db_max_overflow=0, pool_timeout_seconds=0.5
    ) as (app, runtime):
        await add_user_row(runtime, "alice")
        client = app.test_client()
        caplog.clear()
        async with holding_db_connections(runtime):
            await assert_overloaded_json(await client.get("/api/v1/users/alice"))
            await assert_overloaded_page(await client.get("/u/alice"))
        assert_one_line_each(caplog, refusals=2)
        assert (await client.get("/api/v1/users/alice")).status_code == 200


async def test_a_redis_wait_that_times_out_is_a_503_with_retry_after(
    backend: Backend, instance_root: Path, clean: None, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_app(backend, instance_root, redis_pool_size=1, pool_timeout_seconds=0.5) as (
        app,
        runtime,
    ):
        await add_user_row(runtime, "alice")
        client = app.test_client()
        caplog.clear()
        async with holding_redis_connections(runtime):
            await assert_overloaded_json(await client.get("/api/v1/users/alice"))
        assert_one_line_each(caplog, refusals=1)
        assert (await client.get("/api/v1/users/alice")).status_code == 200


async def test_a_redis_wait_while_opening_the_session_is_a_503_too(
    backend: Backend, instance_root: Path, clean: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The session is read from Redis before any error handler can answer.

    Outside testing (as in production) Quart lets that error out of the app,
    where the guard turns it into the same 503 instead of a 500 and a traceback.
    """
    async with running_app(
        backend, instance_root, env="development", redis_pool_size=1, pool_timeout_seconds=0.5
    ) as (app, runtime):
        client, _token = await signed_in(app, runtime, "alice")
        caplog.clear()
        async with holding_redis_connections(runtime):
            await assert_overloaded_json(await client.get("/api/v1/me"))
            await assert_overloaded_page(await client.get("/account"))
        assert_one_line_each(caplog, refusals=2)
        response = await client.get("/api/v1/me")
        assert response.status_code == 200, await response.get_data(as_text=True)
        assert guard(app).in_flight == 0


async def test_a_first_visit_to_a_form_needs_no_redis_connection(
    backend: Backend, instance_root: Path, clean: None, caplog: pytest.LogCaptureFixture
) -> None:
    # Its CSRF token is in a signed cookie: no session is started, nothing is saved.
    async with running_app(backend, instance_root, redis_pool_size=1, pool_timeout_seconds=0.5) as (
        app,
        runtime,
    ):
        client = app.test_client()
        caplog.clear()
        async with holding_redis_connections(runtime):
            response = await client.get("/login")
            assert response.status_code == 200
            assert "gallery_session=" not in response.headers.get("Set-Cookie", "")
        assert_one_line_each(caplog, refusals=0)


async def test_past_the_in_flight_limit_requests_are_refused_at_once(
    backend: Backend, instance_root: Path, clean: None
) -> None:
    # Long pool waits: a refusal that asked Redis or the database would hang here.
    async with running_app(
        backend,
        instance_root,
        max_requests_in_flight=1,
        db_pool_size=1,
        db_max_overflow=0,
        redis_pool_size=1,
        pool_timeout_seconds=60,
    ) as (app, runtime):
        await add_user_row(runtime, "alice")
        client = app.test_client()
        async with holding_db_connections(runtime), holding_redis_connections(runtime):
            held = asyncio.ensure_future(client.get("/api/v1/users/alice"))
            await until(
                lambda: redis_pool_waiters(runtime) == 1 or held.done(),
                "the first request waits for Redis",
            )
            assert guard(app).in_flight == 1
            # Answered while the first is still held, both pools still taken.
            await assert_overloaded_json(await client.get("/api/v1/users/alice"))
            await assert_overloaded_json(await client.get("/openapi.json"))
            await assert_overloaded_page(await client.get("/u/alice"))
            assert not held.done()
        response = await held
        assert response.status_code == 200, await response.get_data(as_text=True)
        assert guard(app).in_flight == 0
        for path in ("/api/v1/users/alice", "/login"):
            assert (await client.get(path)).status_code == 200


async def test_no_limit_when_set_to_zero(
    backend: Backend, instance_root: Path, clean: None
) -> None:
    async with running_app(backend, instance_root, max_requests_in_flight=0) as (app, runtime):
        await add_user_row(runtime, "alice")
        client = app.test_client()
        responses = await asyncio.gather(*(client.get("/api/v1/users/alice") for _ in range(20)))
        assert [r.status_code for r in responses] == [200] * 20
        assert guard(app).in_flight == 0

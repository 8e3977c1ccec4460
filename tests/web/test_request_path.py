"""The request path stays lean: nothing runs in a thread, validators are built once."""

from __future__ import annotations

import inspect
from itertools import chain

import pydantic
import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from tests.helpers import make_active_user
from tests.images import add_image_rows


def test_every_hook_and_context_processor_is_async(app: Quart) -> None:
    """Quart runs a plain ``def`` hook in a thread pool: a thread round trip per response."""
    hooks = chain(
        *app.before_request_funcs.values(),
        *app.after_request_funcs.values(),
        *app.teardown_request_funcs.values(),
        app.teardown_appcontext_funcs,
        *app.template_context_processors.values(),
        app.before_serving_funcs,
        app.after_serving_funcs,
    )
    in_threads = [hook for hook in hooks if not inspect.iscoroutinefunction(hook)]
    assert in_threads == []


async def test_query_validators_are_not_rebuilt_per_request(
    app: Quart, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_image_rows(runtime, await make_active_user(runtime), 2)
    client = app.test_client()
    assert (await client.get("/api/v1/feed?limit=1")).status_code == 200
    built: list[object] = []
    real_init = pydantic.TypeAdapter.__init__

    def counting_init(self: pydantic.TypeAdapter[object], *args: object, **kwargs: object) -> None:
        built.append(args[0] if args else None)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pydantic.TypeAdapter, "__init__", counting_init)
    for query in ("limit=1", "limit=2", "limit=abc"):
        await client.get(f"/api/v1/feed?{query}")
    assert built == []


async def test_json_responses_are_compact_utf8(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    async with runtime.db.session() as session:
        from gallery.models.image import Image

        (image_id,) = await add_image_rows(runtime, user_id, 1)
        image = await session.get_one(Image, image_id)
        image.description = "café ☕ <b>"
        await session.commit()
    from gallery.services.feeds import bump_feed_version

    assert runtime.redis is not None
    await bump_feed_version(runtime.redis)
    response = await app.test_client().get("/api/v1/feed")
    body = await response.get_data()
    assert response.mimetype == "application/json"
    assert "café ☕ <b>".encode() in body and b": " not in body
    assert (await app.test_client().get("/openapi.json")).status_code == 200


async def test_empty_answers_are_sent_without_a_thread(
    app: Quart, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Response(status=304)`` has an empty *iterable* body, which Quart iterates in a
    thread pool; an empty bytes body is sent directly."""

    def no_threads(iterable: object) -> None:
        raise AssertionError(f"a response body iterated in a thread: {iterable!r}")

    monkeypatch.setattr("quart.wrappers.response.run_sync_iterable", no_threads)
    await add_image_rows(runtime, await make_active_user(runtime), 1)
    client = app.test_client()
    etag = (await client.get("/api/v1/feed")).headers["ETag"]
    polled = await client.get("/api/v1/feed", headers={"If-None-Match": etag})
    assert polled.status_code == 304

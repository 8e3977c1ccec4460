"""Anonymous feed polls answered in front of Quart: exactly what the app would answer."""

from __future__ import annotations

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from tests.helpers import make_active_user
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

"""Body limits: how much a request may send, enforced before the form is parsed or
the CSRF token checked, whether the body declares its length or streams in.

The in-process client sends no ``Content-Length`` by itself (the body streams
in, as a chunked one does); ``send`` below declares it, as browsers do, and a
few tests send without it. Real chunked bodies over a real Hypercorn are in
``tests/browser/test_body_limits_served.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from werkzeug.exceptions import RequestEntityTooLarge

from gallery import create_app
from gallery.infra.runtime import Runtime
from gallery.models.image import Image
from gallery.web.body_limits import ANONYMOUS_BODY_LIMIT, SIGNED_IN_BODY_LIMIT, upload_endpoints
from gallery.web.requests import MIB, LimitedBody
from tests.conftest import build_settings
from tests.helpers import (
    add_image_with_comments,
    count_rows,
    csrf_header,
    csrf_token,
    json_error_of,
    signed_in,
)
from tests.images import jpeg_bytes, stored_files

BOUNDARY = "gallery-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"

# With a 2 MB upload limit, the 1 MB form limit of signed-in users stays below it.
SMALL_UPLOAD_MB = 2


async def send(
    client: Client,
    path: str,
    body: bytes,
    content_type: str,
    *,
    declare_length: bool = True,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST ``body`` as it is, with its ``Content-Length`` unless told otherwise."""
    all_headers = {"Content-Type": content_type, **(headers or {})}
    if declare_length:
        all_headers["Content-Length"] = str(len(body))
    return await client.post(path, data=body, headers=all_headers)


def form_of_size(size: int, **fields: str) -> bytes:
    """A urlencoded form of exactly ``size`` bytes: ``fields`` plus a ``padding`` field."""
    encoded = urlencode({**fields, "padding": ""}).encode()
    return encoded + b"x" * (size - len(encoded))


def json_of_size(size: int, key: str = "content") -> bytes:
    """A JSON object of exactly ``size`` bytes with one long string."""
    empty = json.dumps({key: ""}).encode()
    return json.dumps({key: "x" * (size - len(empty))}).encode()


def multipart_image_of_size(size: int, fields: dict[str, str] | None = None) -> bytes:
    """A multipart body of exactly ``size`` bytes: ``fields`` and one JPEG ``file``,
    padded after its end marker (decoders stop there, so it is still the same image)."""
    parts = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (fields or {}).items()
    )
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    image = jpeg_bytes(64, 48)
    padding = size - len(parts) - len(head) - len(image) - len(tail)
    assert padding >= 0, "the size is too small for the image"
    return parts + head + image + b"\0" * padding + tail


async def assert_413_page(response: Any) -> None:
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "Too large" in await response.get_data(as_text=True)
    assert "Content-Security-Policy" in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def assert_413_json(response: Any) -> str:
    assert response.status_code == 413
    assert response.mimetype == "application/json"
    assert "Content-Security-Policy" in response.headers
    error = await json_error_of(response)
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    return error["message"]


@pytest.fixture
async def small_upload_app(
    backend: dict[str, object], instance_root: Path, app: Quart
) -> AsyncIterator[Quart]:
    """A second app on the same data with a 2 MB upload limit, to keep uploads cheap."""
    limited = create_app(build_settings(backend, instance_root, max_upload_mb=SMALL_UPLOAD_MB))
    async with limited.test_app():
        yield limited


# -- which routes take uploads ---------------------------------------------------


async def test_the_upload_routes_are_the_photo_and_avatar_uploads(app: Quart) -> None:
    assert upload_endpoints(app) == {
        "images.upload_files",
        "api.images.upload_image",
        "api.posts.upload_photo",
        "settings.upload_avatar",
        "api.account.set_avatar",
    }


async def test_max_content_length_is_the_largest_limit(app: Quart, small_upload_app: Quart) -> None:
    for application in (app, small_upload_app):
        upload_limit = application.config["MAX_CONTENT_LENGTH"]
        assert upload_limit > SIGNED_IN_BODY_LIMIT > ANONYMOUS_BODY_LIMIT
    assert small_upload_app.config["MAX_CONTENT_LENGTH"] == SMALL_UPLOAD_MB * MIB


# -- anonymous requests ------------------------------------------------------------


async def test_anonymous_forms_over_the_small_limit_are_413_before_csrf(client: Client) -> None:
    over = ANONYMOUS_BODY_LIMIT + 1
    login = form_of_size(over, login="alice", password="correct horse battery")
    await assert_413_page(await send(client, "/login", login, URLENCODED))
    register = form_of_size(over, username="alice", email="alice@example.com")
    await assert_413_page(await send(client, "/register", register, URLENCODED))
    # The same without Content-Length: the body streams in and is cut off all the same.
    await assert_413_page(await send(client, "/login", login, URLENCODED, declare_length=False))


async def test_anonymous_forms_under_the_limit_work(client: Client) -> None:
    token = await csrf_token(client, "/login")
    under = form_of_size(
        ANONYMOUS_BODY_LIMIT, csrf_token=token, login="nobody", password="correct horse battery"
    )
    response = await send(client, "/login", under, URLENCODED)
    # The form again, with its refusal of the sign-in: the body was read and used.
    assert response.status_code == 400
    page = await response.get_data(as_text=True)
    assert "Too large" not in page and 'name="login"' in page
    # Under the limit, the CSRF check has its say as always.
    no_token = form_of_size(ANONYMOUS_BODY_LIMIT, login="nobody", password="x")
    assert (await send(client, "/login", no_token, URLENCODED)).status_code == 403


async def test_anonymous_api_requests_over_the_small_limit_are_413_json(
    client: Client, runtime: Runtime
) -> None:
    over = ANONYMOUS_BODY_LIMIT + 1
    message = await assert_413_json(
        await send(client, "/api/v1/images", multipart_image_of_size(over), MULTIPART)
    )
    assert "64 KB" in message and "Sign in" in message
    await assert_413_json(
        await send(client, "/api/v1/images/1/comments", json_of_size(over), "application/json")
    )
    # Under it, an anonymous upload is refused for what it is: no sign-in.
    small = multipart_image_of_size(ANONYMOUS_BODY_LIMIT)
    token = csrf_header(await csrf_token(client))
    response = await send(client, "/api/v1/images", small, MULTIPART, headers=token)
    assert response.status_code == 401
    assert await count_rows(runtime, Image) == 0


async def test_a_declared_length_over_the_limit_is_refused_without_waiting_for_it(
    client: Client,
) -> None:
    """The declared length alone decides: the body itself never comes."""
    response = await client.post(
        "/login", data=b"", headers={"Content-Type": URLENCODED, "Content-Length": str(100 * MIB)}
    )
    await assert_413_page(response)


async def test_a_dead_sign_in_cookie_gets_the_anonymous_limit(client: Client) -> None:
    """The cookie alone buys the form limit while the request is built; the sign-in
    lookup finds nobody, and the limit drops back to the anonymous one."""
    client.set_cookie("localhost", "gallery_auth", "not-a-sign-in")  # type: ignore[arg-type]
    body = form_of_size(ANONYMOUS_BODY_LIMIT + 1, login="alice", password="x")
    await assert_413_page(await send(client, "/login", body, URLENCODED))


# -- signed-in users ---------------------------------------------------------------


async def test_signed_in_forms_get_the_form_limit(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    image_id, _ = await add_image_with_comments(runtime, "alice", comments=0)
    api_path = f"/api/v1/images/{image_id}/comments"

    # Over the anonymous limit is fine for a signed-in user: the comment itself is
    # refused for its length, by the service, not by the body limit.
    long_comment = json_of_size(ANONYMOUS_BODY_LIMIT * 2)
    response = await send(
        client, api_path, long_comment, "application/json", headers=csrf_header(token)
    )
    assert response.status_code == 400, await response.get_data(as_text=True)

    over = SIGNED_IN_BODY_LIMIT + 1
    await assert_413_json(await send(client, api_path, json_of_size(over), "application/json"))
    page_form = form_of_size(over, content="hello")
    await assert_413_page(await send(client, f"/images/{image_id}/comments", page_form, URLENCODED))
    await assert_413_page(
        await send(
            client, f"/images/{image_id}/comments", page_form, URLENCODED, declare_length=False
        )
    )


async def test_signed_in_uploads_get_the_upload_limit(
    small_upload_app: Quart, runtime: Runtime
) -> None:
    client, token = await signed_in(small_upload_app, runtime)
    limit = SMALL_UPLOAD_MB * MIB

    response = await send(
        client,
        "/api/v1/images",
        multipart_image_of_size(limit),
        MULTIPART,
        headers=csrf_header(token),
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    files_of_one_image = await stored_files(runtime)

    over = multipart_image_of_size(limit + 1)
    message = await assert_413_json(await send(client, "/api/v1/images", over, MULTIPART))
    assert "2 MB" in message
    await assert_413_json(
        await send(client, "/api/v1/images", over, MULTIPART, declare_length=False)
    )
    page_over = multipart_image_of_size(limit + 1, {"csrf_token": token, "description": ""})
    await assert_413_page(await send(client, "/upload", page_over, MULTIPART))
    await assert_413_page(await send(client, "/upload", page_over, MULTIPART, declare_length=False))

    assert await count_rows(runtime, Image) == 1
    assert await stored_files(runtime) == files_of_one_image


async def test_the_upload_limit_is_only_for_upload_routes(
    small_upload_app: Quart, runtime: Runtime
) -> None:
    client, token = await signed_in(small_upload_app, runtime)
    image_id, _ = await add_image_with_comments(runtime, "alice", comments=0)
    between = multipart_image_of_size(SIGNED_IN_BODY_LIMIT + 1)  # under the 2 MB upload limit
    response = await send(
        client,
        f"/api/v1/images/{image_id}/comments",
        between,
        MULTIPART,
        headers=csrf_header(token),
    )
    await assert_413_json(response)


# -- the body itself ---------------------------------------------------------------


async def test_an_iterated_body_counts_every_chunk_and_keeps_nothing_past_the_limit() -> None:
    body = LimitedBody(None, 100)
    body.append(b"a" * 60)
    assert await anext(body) == b"a" * 60  # handed on and forgotten, still counted
    body.append(b"b" * 60)
    assert body.refused and body.received == 120
    with pytest.raises(RequestEntityTooLarge):
        await anext(body)
    body.append(b"c" * 1000)  # the rest of the upload is dropped, not kept
    assert body.received == 120
    with pytest.raises(RequestEntityTooLarge):
        await body


async def test_a_reader_waiting_for_more_is_refused_not_told_the_body_ended() -> None:
    body = LimitedBody(None, 100)
    waiting = asyncio.ensure_future(anext(body))
    await asyncio.sleep(0)  # the reader is now waiting for the first chunk
    body.append(b"x" * 101)
    with pytest.raises(RequestEntityTooLarge):
        await waiting


async def test_a_lowered_limit_rechecks_what_already_arrived() -> None:
    body = LimitedBody(None, 1000)
    body.append(b"x" * 500)
    body.lower_limit(2000)  # never raised: the limit stays 1000
    assert body.limit == 1000 and not body.refused
    body.lower_limit(400, "at most 400 bytes here")
    assert body.refused
    with pytest.raises(RequestEntityTooLarge, match="at most 400 bytes here"):
        body.raise_if_refused()


async def test_a_declared_length_over_the_limit_is_refused_at_once() -> None:
    body = LimitedBody(5000, 1000)
    assert body.refused
    body = LimitedBody(500, 1000)
    body.lower_limit(499)
    assert body.refused

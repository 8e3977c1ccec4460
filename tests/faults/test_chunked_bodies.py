"""Drills: bodies sent chunked, over the limit, to the running site (two workers).

A chunked body declares no length, so only counting what arrives can stop it
(``LimitedBody``); these are the probes of issue 13 that found it missing: a
signed-in 20 MB upload against the 16 MB default, and an anonymous 300 MB
post to the sign-in form. The memory check is a bound on the serving
workers' peak resident memory, not a timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx

from gallery.infra.runtime import Runtime
from gallery.models.image import Image
from gallery.web.requests import MIB
from tests.browser.conftest import GalleryServer, csrf_token, post_form
from tests.faults.conftest import DrillGallery
from tests.helpers import count_rows, make_active_user
from tests.images import jpeg_bytes, stored_files

USERNAME = "uma"
PASSWORD = "correct horse battery"
BOUNDARY = "gallery-served-boundary"
CHUNK = 64 * 1024
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"

DEFAULT_UPLOAD_LIMIT = 16 * MIB  # GALLERY_MAX_UPLOAD_MB's default; the server runs with it
# Unfixed, the anonymous 300 MB post grew a worker by about 250 MB (140 -> 386 MB).
# Refused at 64 KB and dropped from then on, it must cost a worker far less than
# this (what is left is Hypercorn's read buffers and one error page).
MAX_WORKER_GROWTH = 32 * MIB


def zeros(size: int) -> Iterator[bytes]:
    """``size`` zero bytes, in chunks, made as they are sent."""
    chunk = bytes(CHUNK)
    for start in range(0, size, CHUNK):
        yield chunk[: size - start]


def chunked_upload(size: int, fields: dict[str, str]) -> Iterator[bytes]:
    """A multipart body of about ``size`` bytes (one JPEG, padded), never held whole."""
    for name, value in fields.items():
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="huge.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    yield jpeg_bytes(64, 48)
    yield from zeros(size)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


async def post_chunked(
    server: GalleryServer,
    path: str,
    body: Iterator[bytes],
    headers: dict[str, str],
    cookies: httpx.Cookies | None = None,
) -> httpx.Response:
    """POST ``body`` with ``Transfer-Encoding: chunked``, with httpx's blocking client
    in a thread.

    Why blocking: the 413 comes while the client is still sending, and Hypercorn
    then closes the connection (the rest of the request is unread). The kernel
    keeps the answer for a client that reads after its write failed, and httpx's
    blocking client does; its asyncio client loses it (its transport closes the
    socket on the failed write) and reports a ReadError instead.
    """

    def post() -> httpx.Response:
        with httpx.Client(base_url=server.url, cookies=cookies, timeout=30.0) as client:
            return client.post(path, content=body, headers=headers)

    response = await asyncio.to_thread(post)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    return response


async def sign_in_new_user(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_active_user(runtime, USERNAME, f"{USERNAME}@example.com", PASSWORD)
    response = await post_form(client, "/login", {"login": USERNAME, "password": PASSWORD})
    assert response.status_code == 302, response.text


def memory_of(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


def reset_peak_memory(pid: int) -> int:
    """Make the process's peak (``VmHWM``) its current resident size, and return that."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return memory_of(pid, "VmRSS")


async def test_a_chunked_upload_over_the_limit_is_413_and_leaves_nothing(
    drill_gallery: DrillGallery, drill_runtime: Runtime
) -> None:
    server = drill_gallery
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
        await sign_in_new_user(client, drill_runtime)
        token = await csrf_token(client)
        over = DEFAULT_UPLOAD_LIMIT + 4 * MIB  # 20 MB
        response = await post_chunked(
            server,
            "/api/v1/images",
            chunked_upload(over, {"description": "too big"}),
            {"Content-Type": MULTIPART, "X-CSRF-Token": token},
            client.cookies,
        )
        assert response.status_code == 413, response.text
        error = response.json()["error"]
        assert error["code"] == "PAYLOAD_TOO_LARGE" and "16 MB" in error["message"]

        # The page form: its CSRF token is in the body, and reading it hits the limit.
        response = await post_chunked(
            server,
            "/upload",
            chunked_upload(over, {"csrf_token": token, "description": ""}),
            {"Content-Type": MULTIPART},
            client.cookies,
        )
        assert response.status_code == 413
        assert "Too large" in response.text

    assert await count_rows(drill_runtime, Image) == 0
    assert await stored_files(drill_runtime) == []


async def test_an_anonymous_300_mb_chunked_post_is_413_and_costs_no_memory(
    drill_gallery: DrillGallery,
) -> None:
    server = drill_gallery
    workers = server.worker_pids()
    assert len(workers) == 2
    resident_before = {pid: reset_peak_memory(pid) for pid in workers}

    # A file part: what the multipart parser, unfixed, kept in memory whole.
    response = await post_chunked(
        server, "/login", chunked_upload(300 * MIB, {"login": "alice"}), {"Content-Type": MULTIPART}
    )
    assert response.status_code == 413
    assert "Too large" in response.text
    assert "Content-Security-Policy" in response.headers

    growth = {pid: memory_of(pid, "VmHWM") - before for pid, before in resident_before.items()}
    assert max(growth.values()) < MAX_WORKER_GROWTH, {
        pid: f"{grown / MIB:.1f} MB" for pid, grown in growth.items()
    }

"""Two Gallery instances that share nothing local: the proof that the site runs
on several machines with its photos in object storage.

Each instance is its own supervised Hypercorn (one worker) with an instance
folder of its own; they share only the database, Redis and an S3-compatible
server (SeaweedFS, started by the tests). Instance A reaches the store through
a proxy that can hold the store's answers, for the crash drill at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from gallery.infra.redis import EmbeddedRedis
from gallery.infra.runtime import Runtime
from gallery.infra.s3_storage import S3Storage
from gallery.models import Image, PendingStorage
from gallery.settings import Settings
from tests.browser.conftest import (
    SUPERVISED,
    GalleryServer,
    hypercorn_command,
    server_environment,
)
from tests.helpers import make_active_user
from tests.holding_proxy import HoldingProxy
from tests.images import DEFAULT_PHOTO_FILES, jpeg_bytes, list_stored_keys
from tests.live.conftest import PASSWORD, open_socket, sign_in
from tests.mailbox import free_port
from tests.s3_server import S3Server, bucket_env, started_storage

PREFIX = "photos"
# Bounds on waiting for what happens in another process (generous for a slow CI box).
WAIT_SECONDS = 30.0


@dataclass
class Site:
    a: GalleryServer
    b: GalleryServer
    bucket: S3Storage
    proxy: HoldingProxy
    runtime: Runtime


async def start_instance(
    backend: dict[str, object], instance_dir: Path, storage: dict[str, str]
) -> GalleryServer:
    instance_dir.mkdir()
    port = free_port()
    env = server_environment(backend, instance_dir, f"http://127.0.0.1:{port}")
    env.update(storage)
    server = GalleryServer(env, port, 1, instance_dir, hypercorn_command(port, 1, SUPERVISED))
    await server.start()
    return server


@pytest.fixture
async def site(
    backend: dict[str, object],
    instance_root: Path,
    settings: Settings,
    clean: None,
    any_s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
) -> AsyncIterator[Site]:
    # The one Redis of the pass, named for both (on the embedded pass, the
    # session's embedded server: each instance would otherwise start its own).
    shared = {**backend, "redis_url": backend["redis_url"] or EmbeddedRedis(instance_root).url}
    endpoint = urlsplit(any_s3_server.endpoint_url)
    proxy = HoldingProxy(str(endpoint.hostname), int(endpoint.port or 80))
    await proxy.start()
    direct = bucket_env(any_s3_server, s3_bucket, PREFIX)
    runtime = Runtime.from_settings(settings)
    async with contextlib.AsyncExitStack() as stack:
        bucket = await stack.enter_async_context(started_storage(any_s3_server, s3_bucket, PREFIX))
        stack.push_async_callback(proxy.close)
        await runtime.start(run_worker=False)
        stack.push_async_callback(runtime.stop)
        a = await start_instance(
            shared,
            tmp_path / "instance-a",
            bucket_env(any_s3_server, s3_bucket, PREFIX, endpoint_url=proxy.url),
        )
        stack.push_async_callback(a.stop)
        b = await start_instance(shared, tmp_path / "instance-b", direct)
        stack.push_async_callback(b.stop)
        yield Site(a, b, bucket, proxy, runtime)


async def csrf_of(client: httpx.AsyncClient) -> str:
    me = await client.get("/api/v1/me")
    assert me.status_code == 200, me.text
    return str(me.json()["csrf_token"])


async def upload(client: httpx.AsyncClient, data: bytes, description: str = "") -> httpx.Response:
    return await client.post(
        "/api/v1/images",
        files={"file": ("photo.jpg", data, "image/jpeg")},
        data={"description": description},
        headers={"X-CSRF-Token": await csrf_of(client)},
    )


def key_of(url: str) -> str:
    """The storage key in a photo URL of the bucket (``…/<bucket>/photos/<key>?…``)."""
    return urlsplit(url).path.split(f"/{PREFIX}/", 1)[1]


def local_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".jpg", ".webp")]


async def rows(runtime: Runtime, model: type[object]) -> int:
    async with runtime.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def eventually(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS:.0f} s: {what}")
        await asyncio.sleep(0.1)


async def test_two_instances_share_one_site(site: Site, tmp_path: Path) -> None:
    await make_active_user(site.runtime, "alice", "alice@example.com", PASSWORD)
    await make_active_user(site.runtime, "bob", "bob@example.com", PASSWORD)

    # Signed in on A, signed in on B with the same cookie.
    async with contextlib.AsyncExitStack() as clients:
        alice_on_a = await sign_in(site.a, "alice")
        clients.push_async_callback(alice_on_a.aclose)
        alice_on_b = httpx.AsyncClient(base_url=site.b.url, cookies=alice_on_a.cookies)
        clients.push_async_callback(alice_on_b.aclose)
        bob_on_b = await sign_in(site.b, "bob")
        clients.push_async_callback(bob_on_b.aclose)
        me = await alice_on_b.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["username"] == "alice"

        # Uploaded through A: the photo is objects in the bucket, not files on A.
        photo = jpeg_bytes(width=640, height=480)
        created = await upload(alice_on_a, photo, "from A #twomachines")
        assert created.status_code == 201, created.text
        image_id = created.json()["id"]
        stored = await list_stored_keys(site.bucket)
        assert len(stored) == DEFAULT_PHOTO_FILES

        # Seen and downloaded through B.
        seen = await alice_on_b.get(f"/api/v1/images/{image_id}")
        assert seen.status_code == 200
        shown = seen.json()
        assert shown["description"] == "from A #twomachines"
        async with httpx.AsyncClient() as browser:
            display = await browser.get(shown["url"])
            assert display.status_code == 200
            assert display.headers["Content-Type"] == "image/jpeg"
            with PILImage.open(io.BytesIO(display.content)) as decoded:
                assert decoded.size == (shown["width"], shown["height"])
            thumb = await browser.get(shown["thumb_url"])
            assert thumb.status_code == 200
        # Pages may show them: the CSP names the store's origin.
        page = await alice_on_b.get(f"/images/{image_id}")
        assert shown["url"].split("?")[0] in page.text.replace("&amp;", "&")
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(shown["url"]))
        assert f"img-src 'self' data: blob: {origin};" in page.headers["Content-Security-Policy"]
        through_b = await alice_on_b.get(f"/media/{key_of(shown['url'])}")
        assert through_b.status_code == 200
        assert through_b.content == display.content
        assert local_files(tmp_path / "instance-a") == []
        assert local_files(tmp_path / "instance-b") == []

        # Liked on B: A's feed, and its ETag, change.
        before = await alice_on_a.get("/api/v1/feed")
        assert before.json()["items"][0]["like_count"] == 0
        liked = await bob_on_b.put(
            f"/api/v1/images/{image_id}/like", headers={"X-CSRF-Token": await csrf_of(bob_on_b)}
        )
        assert liked.status_code == 200
        after = await alice_on_a.get(
            "/api/v1/feed", headers={"If-None-Match": before.headers["ETag"]}
        )
        assert after.status_code == 200
        assert after.headers["ETag"] != before.headers["ETag"]
        assert after.json()["items"][0]["like_count"] == 1

        # A live event from A reaches a socket on B.
        socket_on_b = await open_socket(site.b)
        try:
            await socket_on_b.subscribe("feed")
            second = await upload(alice_on_a, jpeg_bytes(), "second")
            assert second.status_code == 201
            event = await socket_on_b.next_event(
                lambda m: m.get("type") == "photo.new" and m["photo"]["id"] == second.json()["id"]
            )
            assert event["topic"] == "feed"
        finally:
            await socket_on_b.close()

        # Deleted on B: its objects are gone from the bucket.
        deleted = await alice_on_b.delete(
            f"/api/v1/images/{image_id}", headers={"X-CSRF-Token": await csrf_of(alice_on_b)}
        )
        assert deleted.status_code == 204
        remaining = await list_stored_keys(site.bucket)
        assert len(remaining) == DEFAULT_PHOTO_FILES
        assert not set(stored) & set(remaining)
        assert (await alice_on_a.get(f"/api/v1/images/{image_id}")).status_code == 404


async def test_an_instance_killed_mid_upload_leaves_no_orphan(site: Site) -> None:
    """SIGKILL between storing an upload's objects and committing its row: once A is
    back, its worker's sweep removes the objects, and no row or record is left."""
    await make_active_user(site.runtime, "alice", "alice@example.com", PASSWORD)
    alice = await sign_in(site.a, "alice")
    try:
        csrf = await csrf_of(alice)
        site.proxy.hold()  # the bucket stores, but A does not hear so
        uploading = asyncio.create_task(
            alice.post(
                "/api/v1/images",
                files={"file": ("photo.jpg", jpeg_bytes(), "image/jpeg")},
                headers={"X-CSRF-Token": csrf},
            )
        )

        async def stored_but_not_committed() -> bool:
            return len(await list_stored_keys(site.bucket)) == DEFAULT_PHOTO_FILES

        await eventually(stored_but_not_committed, "the upload's objects in the bucket")
        assert site.a.process is not None
        os.killpg(site.a.process.pid, signal.SIGKILL)  # the whole instance, workers too
        with pytest.raises(httpx.TransportError):
            await uploading
        site.proxy.release()
        await site.a.stop()  # reaps what SIGKILL left
    finally:
        await alice.aclose()

    # What the crash left: objects no row points to, and their records.
    orphans = await list_stored_keys(site.bucket)
    assert len(orphans) == DEFAULT_PHOTO_FILES
    assert await rows(site.runtime, Image) == 0
    assert await rows(site.runtime, PendingStorage) == DEFAULT_PHOTO_FILES

    # Restarted, A's worker sweeps (grace 0 here; an hour by default).
    site.a.env.update(GALLERY_STORAGE_SWEEP_SECONDS="0.5", GALLERY_STORAGE_WRITE_GRACE_SECONDS="0")
    await site.a.start()

    async def swept() -> bool:
        return (
            await list_stored_keys(site.bucket) == []
            and await rows(site.runtime, PendingStorage) == 0
        )

    await eventually(swept, "the sweep removing the orphaned objects and their records")
    assert await rows(site.runtime, Image) == 0

""" "Download my data" (``services/exports.py``): asked for on the settings page
or the API, built by the worker's job into the export storage without holding
the archive in memory, mailed as a link for its owner only, one a day, gone
after a week, and with the account."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import zipfile
from datetime import timedelta
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select, update

from gallery.infra.runtime import Runtime
from gallery.infra.s3_storage import S3Storage
from gallery.models import DataExport, ExportStatus, Image, Photo
from gallery.models.base import utcnow
from gallery.services import exports
from gallery.services.mail import Mailer
from tests.helpers import (
    count_rows,
    csrf_header,
    follow_redirect,
    page_html,
    post_form,
    sign_in,
    signed_in,
    user_id_of,
)
from tests.images import add_image_rows, list_stored_keys
from tests.mailbox import Mailbox, link_in
from tests.web.test_account_deletion import PASSWORD, busy_account, empty

SITE = "http://gallery.test"


async def build_waiting(runtime: Runtime) -> list[int]:
    """What the worker's job does in one round: build every waiting export; their ids."""
    built = []
    while (export_id := await exports.claim_next(runtime.db)) is not None:
        await exports.build(
            runtime.db,
            runtime.storage,
            runtime.export_storage,
            Mailer(runtime.settings),
            export_id,
        )
        built.append(export_id)
    return built


async def download(client: Client, path: str) -> zipfile.ZipFile:
    response = await client.get(path)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/zip"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    data = await response.get_data()
    assert int(response.headers["Content-Length"]) == len(data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None  # every entry's CRC checks out
    return archive


def read_json(archive: zipfile.ZipFile, name: str) -> Any:
    return json.loads(archive.read(name))


async def export_rows(runtime: Runtime) -> list[DataExport]:
    async with runtime.db.session() as session:
        return list(await session.scalars(select(DataExport).order_by(DataExport.id)))


async def test_the_archive_holds_everything_she_made_and_the_mail_links_to_it(
    app: Quart, runtime: Runtime, mailbox: Mailbox
) -> None:
    alice_id, his = await busy_account(app, runtime)
    alice = app.test_client()
    await sign_in(alice, "alice")
    async with runtime.db.session() as session:
        posts = list(await session.scalars(select(Image).where(Image.author_id == alice_id)))
        first = posts[0]
        first.description = "Sunrise over the harbour #sea"
        first.photos[0].alt_text = "Boats in pink light"
        await session.commit()
        originals = {
            post.id: await runtime.storage.open(post.photos[0].original_key) for post in posts
        }

    page = await page_html(alice, "/settings/data")
    assert "Download my data" in page
    asked = await post_form(alice, "/settings/data", {})
    assert "Your archive is being made" in await follow_redirect(alice, asked)
    assert 'data-export-status="waiting"' in await page_html(alice, "/settings/data")

    assert len(await build_waiting(runtime)) == 1
    mail = await mailbox.last_to("alice@example.com")
    assert mail["Subject"] == "Your Gallery data is ready to download"
    link = link_in(mail, SITE, "/settings/data/")
    assert link.endswith("/download")
    assert 'data-export-status="ready"' in await page_html(alice, "/settings/data")

    archive = await download(alice, link)
    names = set(archive.namelist())
    assert {
        "README.txt",
        "profile.json",
        "posts.json",
        "comments.json",
        "likes.json",
        "follows.json",
        "avatar.jpg",
    } <= names

    profile = read_json(archive, "profile.json")
    assert profile["username"] == "alice"
    assert profile["email"] == "alice@example.com"
    assert not any("password" in key or "totp" in key for key in profile)

    listed = {post["id"]: post for post in read_json(archive, "posts.json")}
    assert set(listed) == set(originals)
    shown = listed[first.id]
    assert shown["caption"] == "Sunrise over the harbour #sea"
    assert shown["photos"][0]["alt_text"] == "Boats in pink light"
    assert shown["created_at"].startswith(str(first.created_at.year))
    # Every original, byte for byte, where its post says it is.
    for post_id, original in originals.items():
        assert archive.read(listed[post_id]["photos"][0]["file"]) == original

    comments = read_json(archive, "comments.json")
    assert [(c["post_id"], c["text"]) for c in comments] == [(his, "One"), (his, "Two")]
    assert [like["post_id"] for like in read_json(archive, "likes.json")] == [his]
    follows = {(f["relation"], f["username"]) for f in read_json(archive, "follows.json")}
    assert follows == {("following", "bob"), ("follower", "bob")}

    # The API lists it with its archive, which downloads the same bytes.
    listing = await (await alice.get("/api/v1/me/exports")).get_json()
    (only,) = listing["exports"]
    assert only["status"] == "ready"
    assert only["size_bytes"] > sum(len(original) for original in originals.values())
    again = await download(alice, only["archive_url"])
    assert again.namelist() == archive.namelist()


async def test_one_archive_a_day_and_none_while_one_is_made(app: Quart, runtime: Runtime) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    asked = await alice.post("/api/v1/me/exports", headers=csrf_header(token))
    assert asked.status_code == 202
    assert (await asked.get_json())["status"] == "waiting"

    while_made = await alice.post("/api/v1/me/exports", headers=csrf_header(token))
    assert while_made.status_code == 409
    page = await follow_redirect(alice, await post_form(alice, "/settings/data", {}))
    assert "being made already" in page

    await build_waiting(runtime)
    too_soon = await alice.post("/api/v1/me/exports", headers=csrf_header(token))
    assert too_soon.status_code == 429
    assert 86_000 < int(too_soon.headers["Retry-After"]) <= 86_400
    assert "one archive a day" in (await too_soon.get_json())["error"]["message"]
    assert await count_rows(runtime, DataExport) == 1

    # A day later, another.
    async with runtime.db.session() as session:
        await session.execute(
            update(DataExport).values(requested_at=utcnow() - timedelta(days=1, seconds=1))
        )
        await session.commit()
    assert (await alice.post("/api/v1/me/exports", headers=csrf_header(token))).status_code == 202

    # One that failed does not count: she may ask again at once.
    async with runtime.db.session() as session:
        await session.execute(
            update(DataExport)
            .where(DataExport.status == ExportStatus.WAITING)
            .values(status=ExportStatus.FAILED)
        )
        await session.commit()
    assert (await alice.post("/api/v1/me/exports", headers=csrf_header(token))).status_code == 202


async def test_only_its_owner_downloads_it_and_only_for_a_week(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    bob, _ = await signed_in(app, runtime, "bob")
    await alice.post("/api/v1/me/exports", headers=csrf_header(token))
    (export_id,) = await build_waiting(runtime)
    path = f"/settings/data/{export_id}/download"
    api_path = f"/api/v1/me/exports/{export_id}/archive"
    await download(alice, path)

    assert (await bob.get(path)).status_code == 404
    assert (await bob.get(api_path)).status_code == 404
    visitor = app.test_client()
    assert (await visitor.get(path)).status_code == 302  # to the sign-in page
    assert (await visitor.get(api_path)).status_code == 401
    (row,) = await export_rows(runtime)
    assert row.archive_key is not None
    assert await list_stored_keys(runtime.export_storage) == [row.archive_key]
    # Nothing of it is among the media, which are served by URL.
    assert row.archive_key not in await list_stored_keys(runtime.storage)
    assert (await visitor.get(f"/media/{row.archive_key}")).status_code == 404

    # A week on, the link is dead and the job removes the archive.
    async with runtime.db.session() as session:
        await session.execute(update(DataExport).values(expires_at=utcnow()))
        await session.commit()
    assert (await alice.get(path)).status_code == 404
    assert await exports.expire_old(runtime.db, runtime.export_storage) == 1
    (row,) = await export_rows(runtime)
    assert (row.status, row.archive_key) == (ExportStatus.EXPIRED, None)
    assert await list_stored_keys(runtime.export_storage) == []
    assert 'data-export-status="expired"' in await page_html(alice, "/settings/data")


async def test_a_build_whose_worker_died_is_taken_up_again_and_leaves_one_archive(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    await alice.post("/api/v1/me/exports", headers=csrf_header(token))
    export_id = await exports.claim_next(runtime.db)
    assert export_id is not None
    # What a worker killed mid-build leaves: the row building, its heartbeat
    # stopped, and half an archive (an unfinished multipart upload in a bucket).
    left_key = "ab/cd/" + "e" * 32 + "_export.zip"
    store = runtime.export_storage
    if isinstance(store, S3Storage):
        await store.client.create_multipart_upload(
            Bucket=store.location.bucket, Key=store.location.object_key(left_key)
        )
    else:
        await store.put(left_key, b"PK half an archive")
    async with runtime.db.session() as session:
        await session.execute(
            update(DataExport).values(
                archive_key=left_key, heartbeat_at=utcnow() - timedelta(minutes=1)
            )
        )
        await session.commit()
    # Another worker leaves it alone while its heartbeat is fresh...
    assert await exports.claim_next(runtime.db) is None
    async with runtime.db.session() as session:
        await session.execute(
            update(DataExport).values(heartbeat_at=utcnow() - exports.STALE_AFTER * 2)
        )
        await session.commit()
    # ...and takes it up once it has stopped.
    assert await build_waiting(runtime) == [export_id]
    (row,) = await export_rows(runtime)
    assert row.status == ExportStatus.READY
    assert row.attempts == 2
    assert await list_stored_keys(store) == [row.archive_key]
    if isinstance(store, S3Storage):
        unfinished = await store.client.list_multipart_uploads(
            Bucket=store.location.bucket, Prefix=store.location.object_key(left_key)
        )
        assert unfinished.get("Uploads", []) == []
    await download(alice, f"/settings/data/{export_id}/download")


async def test_the_archive_is_streamed_not_held_in_memory(app: Quart, runtime: Runtime) -> None:
    await signed_in(app, runtime, "alice")
    alice_id = await user_id_of(runtime, "alice")
    # Twenty posts of 3 MB originals (random, so nothing compresses): 60 MB.
    post_ids = await add_image_rows(runtime, alice_id, 20)
    async with runtime.db.session() as session:
        keys = list(
            await session.scalars(select(Photo.original_key).where(Photo.image_id.in_(post_ids)))
        )
    for key in keys:
        await runtime.storage.put(key, os.urandom(3_000_000))
    total = 3_000_000 * len(keys)
    async with runtime.db.session() as session:
        session.add(DataExport(user_id=alice_id, status=ExportStatus.WAITING, attempts=0))
        await session.commit()

    tracemalloc.start()
    try:
        await build_waiting(runtime)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (row,) = await export_rows(runtime)
    assert row.status == ExportStatus.READY
    assert row.size_bytes is not None and row.size_bytes > total
    # One photo's chunk and one part of the upload at a time, not the archive.
    assert peak < total / 3, f"peak {peak:,} bytes for an archive of {row.size_bytes:,}"


async def test_deleting_the_account_removes_its_archives(app: Quart, runtime: Runtime) -> None:
    alice_id, _ = await busy_account(app, runtime)
    alice = app.test_client()
    await sign_in(alice, "alice")
    await post_form(alice, "/settings/data", {})
    await build_waiting(runtime)
    assert len(await list_stored_keys(runtime.export_storage)) == 1

    await post_form(alice, "/settings/delete", {"password": PASSWORD})
    await empty(runtime, alice_id)
    assert await count_rows(runtime, DataExport) == 0
    assert await list_stored_keys(runtime.export_storage) == []

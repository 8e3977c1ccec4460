"""The S3 storage backend (infra/s3_storage.py) and ``check_storage``, against a
real S3-compatible server (SeaweedFS, tests/s3_server.py) over the network.

What the site relies on: objects are stored with the type and caching headers
browsers need, read back and deleted; the URLs pages carry work in a plain HTTP
client (presigned, or under a public base URL), are the same in every process
for a while, and only as signed; and the check says exactly what is wrong.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from gallery.infra.s3_storage import (
    MULTIPART_PART_BYTES,
    PRIVATE_CACHE_CONTROL,
    PresignedUrls,
    S3Location,
    S3Storage,
)
from gallery.infra.storage import IMMUTABLE_CACHE_CONTROL, StorageError, StoredFileMissing
from gallery.infra.storage_check import check_storage
from tests.images import jpeg_bytes
from tests.s3_server import S3Server, started_storage, storage_options

KEY = "ab/cd/0123456789abcdef0123456789abcdef_display.jpg"
EXPORT_KEY = "ab/cd/0123456789abcdef0123456789abcdef_export.zip"
WEEK = 7 * 24 * 3600
MIB = 1024 * 1024


@pytest.fixture
async def storage(any_s3_server: S3Server, s3_bucket: str) -> AsyncIterator[S3Storage]:
    async with started_storage(any_s3_server, s3_bucket, "site") as store:
        yield store


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(url)


async def stream(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)  # a real producer (the zip writer) awaits between chunks
        yield chunk


async def stream_failing_after(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in stream(chunks):
        yield chunk
    raise RuntimeError("the export job failed midway")


async def read_all(storage: S3Storage, key: str, chunk_bytes: int = MIB) -> list[bytes]:
    return [chunk async for chunk in await storage.open_stream(key, chunk_bytes)]


async def unfinished_uploads(storage: S3Storage, key: str) -> list[str]:
    """The multipart uploads of ``key`` begun and neither completed nor aborted."""
    object_key = storage.location.object_key(key)
    answer = await storage.client.list_multipart_uploads(
        Bucket=storage.location.bucket, Prefix=object_key
    )
    return [
        upload["UploadId"] for upload in answer.get("Uploads", []) if upload["Key"] == object_key
    ]


async def test_a_stored_photo_is_an_object_with_the_headers_browsers_need(
    storage: S3Storage, any_s3_server: S3Server, s3_bucket: str
) -> None:
    photo = jpeg_bytes()
    await storage.put(KEY, photo)

    assert await storage.open(KEY) == photo
    assert await storage.size(KEY) == len(photo)
    # Under the prefix, in the bucket.
    head = await storage.client.head_object(Bucket=s3_bucket, Key=f"site/{KEY}")
    assert head["ContentType"] == "image/jpeg"
    assert head["CacheControl"] == IMMUTABLE_CACHE_CONTROL

    await storage.delete(KEY)
    assert await storage.size(KEY) is None
    with pytest.raises(StoredFileMissing):
        await storage.open(KEY)
    await storage.delete(KEY)  # a missing object is no error


async def test_keys_that_are_not_ours_never_reach_the_bucket(storage: S3Storage) -> None:
    with pytest.raises(StoredFileMissing):
        await storage.open("../secret.txt")
    with pytest.raises(StorageError):
        await storage.put("../secret.txt", b"x")


async def test_presigned_urls_serve_the_photo_and_only_as_signed(storage: S3Storage) -> None:
    photo = jpeg_bytes()
    await storage.put(KEY, photo)

    url = storage.url(KEY)
    answer = await fetch(url)
    assert answer.status_code == 200
    assert answer.content == photo
    assert answer.headers["Content-Type"] == "image/jpeg"
    assert answer.headers["Cache-Control"] == IMMUTABLE_CACHE_CONTROL

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert query["X-Amz-Expires"] == str(WEEK)
    for name, value in (
        ("X-Amz-Signature", "0" * 64),
        ("X-Amz-Expires", str(WEEK - 1)),
    ):
        tampered = urlunsplit(parts._replace(query=urlencode(query | {name: value})))
        assert (await fetch(tampered)).status_code == 403, name
    other_key = url.replace("_display.jpg", "_thumb.jpg")
    assert (await fetch(other_key)).status_code == 403


async def test_presigned_urls_are_the_same_everywhere_within_a_window(
    storage: S3Storage, any_s3_server: S3Server, s3_bucket: str
) -> None:
    """So feed pages (and their ETags, and the shared page cache) stay the same,
    whichever process renders them, and browsers keep their cached photos."""
    another_process = S3Storage(S3Location(s3_bucket, "site/"), storage_options(any_s3_server))
    await another_process.start()
    try:
        assert another_process.url(KEY) == storage.url(KEY)
    finally:
        await another_process.close()

    signer = PresignedUrls(
        any_s3_server.endpoint_url, s3_bucket, any_s3_server.region,
        path_style=True, lifetime_seconds=3600,
    )  # fmt: skip
    signer.keys = storage._presigned.keys  # type: ignore[union-attr]
    start = 1_800_000_000 - 1_800_000_000 % 1800  # a window starts every half hour
    assert signer.url(KEY, now=start) == signer.url(KEY, now=start + 1799)
    assert signer.url(KEY, now=start) != signer.url(KEY, now=start + 1800)


async def test_an_expired_presigned_url_is_refused(
    storage: S3Storage, any_s3_server: S3Server, s3_bucket: str
) -> None:
    await storage.put(KEY, jpeg_bytes())
    signer = PresignedUrls(
        any_s3_server.endpoint_url, s3_bucket, any_s3_server.region,
        path_style=True, lifetime_seconds=120,
    )  # fmt: skip
    signer.keys = storage._presigned.keys  # type: ignore[union-attr]

    assert (await fetch(signer.url(f"site/{KEY}"))).status_code == 200
    signed_long_ago = signer.url(f"site/{KEY}", now=time.time() - 600)
    assert (await fetch(signed_long_ago)).status_code == 403


async def test_a_public_base_url_gives_plain_urls(any_s3_server: S3Server, s3_bucket: str) -> None:
    """A CDN or the bucket's website endpoint in front: pages link there, unsigned."""
    store = S3Storage(
        S3Location(s3_bucket, "site/"),
        storage_options(any_s3_server, public_base_url="https://cdn.example.com/photos/"),
    )
    await store.start()
    try:
        assert store.url(KEY) == f"https://cdn.example.com/photos/{KEY}"
        assert store.media_origin == "https://cdn.example.com"
    finally:
        await store.close()


async def test_the_check_passes_on_a_working_bucket(storage: S3Storage) -> None:
    steps = await check_storage(storage)

    assert [(step.name, step.ok) for step in steps] == [
        ("reach the bucket", True),
        ("write a file", True),
        ("read it back", True),
        ("keep its headers", True),
        ("serve it to browsers", True),
        ("delete it", True),
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"bucket": "no-such-bucket-here"}, "does not exist"),
        ({"secret_access_key": "0" * 40}, "secret key does not match"),
        ({"access_key_id": "AKIAUNKNOWNKEY000000"}, "does not know the access key"),
        ({"endpoint_url": "http://127.0.0.1:9"}, "cannot reach the store"),
    ],
)
async def test_the_check_says_what_is_wrong(
    any_s3_server: S3Server, s3_bucket: str, change: dict[str, str], expected: str
) -> None:
    bucket = change.pop("bucket", s3_bucket)
    store = S3Storage(S3Location(bucket), storage_options(any_s3_server, **change))
    await store.start()
    try:
        steps = await check_storage(store)
    finally:
        await store.close()

    (step,) = steps
    assert (step.name, step.ok) == ("reach the bucket", False)
    assert expected in step.detail


async def test_the_check_finds_a_public_url_that_does_not_serve(
    any_s3_server: S3Server, s3_bucket: str
) -> None:
    """GALLERY_MEDIA_URL set to the bucket itself, which is private: browsers get 403."""
    store = S3Storage(
        S3Location(s3_bucket),
        storage_options(any_s3_server, public_base_url=f"{any_s3_server.endpoint_url}/{s3_bucket}"),
    )
    await store.start()
    try:
        steps = await check_storage(store)
    finally:
        await store.close()

    failed = steps[-2]
    assert (failed.name, failed.ok) == ("serve it to browsers", False)
    assert "403" in failed.detail and "GALLERY_MEDIA_URL" in failed.detail
    # The probe is removed all the same.
    assert (steps[-1].name, steps[-1].ok) == ("delete it", True)


async def test_a_streamed_export_is_uploaded_in_parts_and_streams_back(
    storage: S3Storage, s3_bucket: str
) -> None:
    chunks = [os.urandom(MIB) for _ in range(20)]  # 20 MiB: two full parts and a last one

    stored = await storage.put_stream(EXPORT_KEY, stream(chunks))

    data = b"".join(chunks)
    assert stored == len(data) == 20 * MIB
    read = await read_all(storage, EXPORT_KEY, chunk_bytes=MIB)
    assert b"".join(read) == data
    assert max(len(chunk) for chunk in read) <= MIB
    head = await storage.client.head_object(Bucket=s3_bucket, Key=f"site/{EXPORT_KEY}")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # S3's mark of an object put in 3 parts
    assert head["ContentType"] == "application/zip"
    assert head["CacheControl"] == PRIVATE_CACHE_CONTROL
    assert await unfinished_uploads(storage, EXPORT_KEY) == []


async def test_a_stream_smaller_than_a_part_is_one_put(storage: S3Storage, s3_bucket: str) -> None:
    chunks = [b"PK\x03\x04", os.urandom(MIB), b"PK\x05\x06"]

    stored = await storage.put_stream(EXPORT_KEY, stream(chunks))

    data = b"".join(chunks)
    assert stored == len(data)
    assert b"".join(await read_all(storage, EXPORT_KEY)) == data
    head = await storage.client.head_object(Bucket=s3_bucket, Key=f"site/{EXPORT_KEY}")
    assert head["ETag"].strip('"') == hashlib.md5(data).hexdigest()  # noqa: S324 (one PUT)
    assert head["ContentType"] == "application/zip"
    assert head["CacheControl"] == PRIVATE_CACHE_CONTROL


async def test_an_empty_stream_stores_an_empty_object(storage: S3Storage) -> None:
    assert await storage.put_stream(EXPORT_KEY, stream([])) == 0

    assert await storage.size(EXPORT_KEY) == 0
    assert await read_all(storage, EXPORT_KEY) == []


async def test_a_stream_exactly_one_part_long_is_one_put(storage: S3Storage) -> None:
    data = os.urandom(MULTIPART_PART_BYTES)

    assert await storage.put_stream(EXPORT_KEY, stream([data])) == len(data)

    assert b"".join(await read_all(storage, EXPORT_KEY)) == data


@pytest.mark.parametrize("megabytes", [3, 20])  # before the first part, and after two
async def test_a_stream_that_fails_midway_leaves_no_object_and_no_upload(
    storage: S3Storage, megabytes: int
) -> None:
    chunks = [b"e" * MIB] * megabytes

    with pytest.raises(RuntimeError, match="midway"):
        await storage.put_stream(EXPORT_KEY, stream_failing_after(chunks))

    assert await storage.size(EXPORT_KEY) is None
    assert await unfinished_uploads(storage, EXPORT_KEY) == []


async def test_a_stream_cancelled_midway_leaves_no_object_and_no_upload(
    storage: S3Storage,
) -> None:
    a_part_is_up = asyncio.Event()

    async def stalling_after_a_part() -> AsyncIterator[bytes]:
        async for chunk in stream([b"c" * MIB] * (MULTIPART_PART_BYTES // MIB + 1)):
            yield chunk
        a_part_is_up.set()  # asked for more: the part before was uploaded
        await asyncio.Event().wait()  # the job hangs until it is cancelled
        yield b"never"

    upload = asyncio.create_task(storage.put_stream(EXPORT_KEY, stalling_after_a_part()))
    await a_part_is_up.wait()
    assert len(await unfinished_uploads(storage, EXPORT_KEY)) == 1
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload

    assert await storage.size(EXPORT_KEY) is None
    assert await unfinished_uploads(storage, EXPORT_KEY) == []


async def test_a_failed_stream_keeps_the_previous_object_whole(storage: S3Storage) -> None:
    await storage.put_stream(EXPORT_KEY, stream([b"the previous export"]))

    with pytest.raises(RuntimeError, match="midway"):
        await storage.put_stream(EXPORT_KEY, stream_failing_after([b"n" * MIB] * 10))

    assert await storage.open(EXPORT_KEY) == b"the previous export"


async def test_streams_of_keys_that_are_not_ours_never_reach_the_bucket(
    storage: S3Storage,
) -> None:
    with pytest.raises(StorageError):
        await storage.put_stream("../secret.zip", stream([b"x"]))
    with pytest.raises(StoredFileMissing):
        await storage.open_stream("../secret.zip")
    with pytest.raises(StorageError):
        await storage.abort_unfinished_uploads("../secret.zip")


async def test_open_stream_of_a_missing_object_raises_before_any_chunk(
    storage: S3Storage,
) -> None:
    """So the download route can answer 404 before it has sent any headers."""
    with pytest.raises(StoredFileMissing):
        await storage.open_stream(EXPORT_KEY)


async def test_a_stream_closed_early_lets_go_of_its_connection(storage: S3Storage) -> None:
    """A download the browser abandons: closed after one chunk, or before any."""
    await storage.put(KEY, os.urandom(3 * MIB))

    for _ in range(20):  # more than the client's pool of 10 connections, were they kept
        abandoned = await storage.open_stream(KEY, chunk_bytes=1000)
        assert len(await anext(abandoned)) <= 1000
        await abandoned.aclose()
        never_read = await storage.open_stream(KEY)
        await never_read.aclose()
        with pytest.raises(StopAsyncIteration):
            await anext(never_read)


async def test_abort_unfinished_uploads_removes_what_a_killed_job_left(
    storage: S3Storage, s3_bucket: str
) -> None:
    """A job killed mid-upload (kill -9) never aborted its upload; its retry does."""
    object_key = f"site/{EXPORT_KEY}"
    client = storage.client
    for _ in range(2):  # killed twice
        begun = await client.create_multipart_upload(Bucket=s3_bucket, Key=object_key)
        await client.upload_part(
            Bucket=s3_bucket,
            Key=object_key,
            UploadId=begun["UploadId"],
            PartNumber=1,
            Body=b"k" * (5 * MIB),
        )
    other_key = EXPORT_KEY.replace("_export", "_export2")  # sharing the prefix: not touched
    other = await client.create_multipart_upload(Bucket=s3_bucket, Key=f"site/{other_key}")
    assert len(await unfinished_uploads(storage, EXPORT_KEY)) == 2

    assert await storage.abort_unfinished_uploads(EXPORT_KEY) == 2

    assert await unfinished_uploads(storage, EXPORT_KEY) == []
    assert await unfinished_uploads(storage, other_key) == [other["UploadId"]]
    assert await storage.abort_unfinished_uploads(EXPORT_KEY) == 0
    # And the retry goes through.
    assert await storage.put_stream(EXPORT_KEY, stream([b"r" * MIB] * 9)) == 9 * MIB
    assert await storage.size(EXPORT_KEY) == 9 * MIB


async def test_put_stream_holds_about_one_part_in_memory(storage: S3Storage) -> None:
    """40 MiB streamed through, never 40 MiB held: a bound on memory, not on time."""
    chunk = os.urandom(MIB)
    total = 40 * MIB

    tracemalloc.start()
    try:
        stored = await storage.put_stream(EXPORT_KEY, stream([chunk] * (total // MIB)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert stored == total
    assert peak < 2 * MULTIPART_PART_BYTES, f"{peak / MIB:.1f} MiB at the peak"
    assert await storage.size(EXPORT_KEY) == total

"""The S3 storage backend (infra/s3_storage.py) and ``check_storage``, against a
real S3-compatible server (SeaweedFS, tests/s3_server.py) over the network.

What the site relies on: objects are stored with the type and caching headers
browsers need, read back and deleted; the URLs pages carry work in a plain HTTP
client (presigned, or under a public base URL), are the same in every process
for a while, and only as signed; and the check says exactly what is wrong.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from gallery.infra.s3_storage import PresignedUrls, S3Location, S3Storage
from gallery.infra.storage import IMMUTABLE_CACHE_CONTROL, StorageError, StoredFileMissing
from gallery.infra.storage_check import check_storage
from tests.images import jpeg_bytes
from tests.s3_server import S3Server, started_storage, storage_options

KEY = "ab/cd/0123456789abcdef0123456789abcdef_display.jpg"
WEEK = 7 * 24 * 3600


@pytest.fixture
async def storage(any_s3_server: S3Server, s3_bucket: str) -> AsyncIterator[S3Storage]:
    async with started_storage(any_s3_server, s3_bucket, "site") as store:
        yield store


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(url)


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

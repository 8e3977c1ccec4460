"""The S3 test server (``tests/s3_server.py``): a real SeaweedFS that signs like AWS.

What the S3 storage tests rely on: objects keep their bytes and the headers the
site serves them with, requests signed with a wrong secret (or not at all) are
refused, and presigned URLs work from a plain HTTP client and only as signed.
One server for the session (starting one takes seconds), a bucket for each test.
"""

from __future__ import annotations

import io
import secrets
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from botocore.exceptions import ClientError
from PIL import Image as PILImage

from tests.s3_server import S3Server, s3_client

KEY = "ab/cd/0123456789abcdef0123456789abcdef_display.jpg"
CONTENT_TYPE = "image/jpeg"
CACHE_CONTROL = "public, max-age=31536000, immutable"
REFUSED_SIGNATURE_CODES = {"SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId"}


def jpeg() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 48), (30, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


async def put_photo(s3: Any, s3_bucket: str, data: bytes) -> None:
    await s3.put_object(
        Bucket=s3_bucket, Key=KEY, Body=data, ContentType=CONTENT_TYPE, CacheControl=CACHE_CONTROL
    )


def with_signature_altered(url: str) -> str:
    """``url`` with the first character of its signature changed (SigV4 or SigV2 query)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = [name for name, _ in query if name in ("X-Amz-Signature", "Signature")]
    assert names, f"no signature in {url}"
    altered = []
    for name, value in query:
        if name == names[0]:
            # Both alphabets (hex, base64) have 0 and 1.
            value = ("1" if value[0] == "0" else "0") + value[1:]
        altered.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(altered, quote_via=quote, safe="")))


async def test_an_object_keeps_its_bytes_content_type_and_cache_control(
    any_s3_server: S3Server, s3_bucket: str
) -> None:
    data = jpeg()
    async with s3_client(any_s3_server) as s3:
        await put_photo(s3, s3_bucket, data)

        head = await s3.head_object(Bucket=s3_bucket, Key=KEY)
        assert head["ContentLength"] == len(data)
        assert head["ContentType"] == CONTENT_TYPE
        assert head["CacheControl"] == CACHE_CONTROL

        got = await s3.get_object(Bucket=s3_bucket, Key=KEY)
        async with got["Body"] as body:
            assert await body.read() == data
        assert got["ContentType"] == CONTENT_TYPE
        assert got["CacheControl"] == CACHE_CONTROL


async def test_a_wrong_secret_key_or_no_signature_is_refused(
    any_s3_server: S3Server, s3_bucket: str
) -> None:
    async with s3_client(any_s3_server) as s3:
        await put_photo(s3, s3_bucket, jpeg())

    async with s3_client(any_s3_server, secret_access_key=secrets.token_hex(20)) as wrongly_signed:
        with pytest.raises(ClientError) as refused_read:
            await wrongly_signed.get_object(Bucket=s3_bucket, Key=KEY)
        with pytest.raises(ClientError) as refused_write:
            await put_photo(wrongly_signed, s3_bucket, b"not the photo")
    for refused in (refused_read, refused_write):
        assert refused.value.response["Error"]["Code"] in REFUSED_SIGNATURE_CODES
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    async with httpx.AsyncClient() as http:
        unsigned = await http.get(f"{any_s3_server.endpoint_url}/{s3_bucket}/{KEY}")
    assert unsigned.status_code == 403

    async with s3_client(any_s3_server) as s3:  # and the photo is untouched
        got = await s3.get_object(Bucket=s3_bucket, Key=KEY)
        async with got["Body"] as body:
            assert await body.read() == jpeg()


@pytest.mark.parametrize(
    "signature_version",
    [
        "s3v4",
        # botocore's default for presigning in us-east-1: SigV2's query form
        # (AWSAccessKeyId, Signature, Expires); SeaweedFS checks it too.
        None,
    ],
)
async def test_a_presigned_get_url_works_only_as_signed(
    any_s3_server: S3Server, s3_bucket: str, signature_version: str | None
) -> None:
    data = jpeg()
    async with s3_client(any_s3_server, signature_version=signature_version) as s3:
        await put_photo(s3, s3_bucket, data)
        url = await s3.generate_presigned_url(
            "get_object", Params={"Bucket": s3_bucket, "Key": KEY}, ExpiresIn=600
        )
    assert ("X-Amz-Signature=" in url) == (signature_version == "s3v4")

    async with httpx.AsyncClient() as http:
        fetched = await http.get(url)
        tampered = await http.get(with_signature_altered(url))
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == CONTENT_TYPE
    assert fetched.headers["cache-control"] == CACHE_CONTROL
    assert tampered.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in tampered.text

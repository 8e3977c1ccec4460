"""Image files as objects in an S3-compatible bucket (``GALLERY_STORAGE_URL=s3://…``).

Amazon S3, MinIO, Ceph RGW, SeaweedFS, Cloudflare R2 and Backblaze B2 all speak
this API, so instances on several machines share their photos through the
bucket instead of a shared folder.

The client is aiobotocore: botocore's request signing, retries and credential
chain (the standard ``AWS_*`` variables, shared profiles, instance and container
roles) over aiohttp, so no request blocks the event loop.

Browsers fetch the objects directly, never through the app: from a public base
URL (a CDN, or the bucket's website endpoint) when one is set, otherwise through
presigned URLs. Presigned URLs are signed for a fixed *window* (see
``PresignedUrls``), so that every process hands out the same URL for a key until
the window rolls over: feed pages, their ETags and the shared page cache stay
valid, and browsers keep their cached copies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import io
import logging
import secrets
import time
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from aiobotocore.session import AioSession, get_session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from gallery.infra.storage import (
    IMMUTABLE_CACHE_CONTROL,
    STREAM_CHUNK_BYTES,
    StorageError,
    StoredFileMissing,
    StoredStream,
    content_type_of,
    finish_despite_cancellation,
    is_valid_key,
)

log = logging.getLogger(__name__)

# SigV4 presigned URLs live at most 7 days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
# How long one request to the store may take (connect, then each read).
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
# Retries of throttled and failed requests (botocore's "standard" mode backs off).
MAX_ATTEMPTS = 4
# Temporary credentials (an instance role, say) are re-read this often, well
# before they expire; static keys never change.
CREDENTIALS_REFRESH_SECONDS = 300
# Errors that mean "no such object".
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# ``put_stream`` sends parts of this size (the last one may be smaller): S3's
# least is 5 MiB for all but the last, and 10 000 parts of 8 MiB make 78 GiB.
MULTIPART_PART_BYTES = 8 * 1024 * 1024
# What streamed files (data exports) are: one user's own, downloaded through the
# app; no cache on the way may keep a copy.
PRIVATE_CACHE_CONTROL = "private, no-store"


@dataclass(frozen=True)
class S3Location:
    """Where the objects go: ``s3://bucket/prefix`` → bucket and key prefix."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"expected s3://bucket or s3://bucket/prefix, got {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"an s3:// URL has no query or fragment: {url!r}")
        prefix = parts.path.strip("/")
        return cls(bucket=parts.netloc, prefix=f"{prefix}/" if prefix else "")

    def object_key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class S3Options:
    """How to reach the store; ``None`` leaves it to botocore (``AWS_*`` variables…)."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    # "path" (endpoint/bucket/key: MinIO, SeaweedFS, most self-hosted stores) or
    # "virtual" (bucket.endpoint/key: AWS); "auto" is path with an endpoint set.
    addressing_style: str = "auto"
    # Where browsers fetch keys from when the bucket (or a CDN) is public.
    public_base_url: str | None = None
    presign_seconds: int = MAX_PRESIGN_SECONDS

    @property
    def path_style(self) -> bool:
        if self.addressing_style == "auto":
            return self.endpoint_url is not None
        return self.addressing_style == "path"


@dataclass(frozen=True)
class SigningKeys:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class PresignedUrls:
    """Presigned GET URLs (AWS Signature Version 4, query form), signed per window.

    A URL is signed as of the start of the current window (half its lifetime)
    and valid for its whole lifetime, so each one handed out stays valid for at
    least half the lifetime, and all processes sign a key identically until the
    window rolls over. botocore signs "now" and offers no way to fix the time,
    hence this small signer: the algorithm is AWS's published one, and the
    storage tests fetch its URLs from a real S3 server (and see a tampered one
    refused).
    """

    def __init__(self, base_url: str, bucket: str, region: str, *, path_style: bool,
                 lifetime_seconds: int) -> None:  # fmt: skip
        if not 2 <= lifetime_seconds <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"a presigned URL lives 2 s to 7 days, not {lifetime_seconds} s")
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.region = region
        if path_style:
            self.host = parts.netloc
            self.path_prefix = f"{parts.path.rstrip('/')}/{bucket}/"
        else:
            self.host = f"{bucket}.{parts.netloc}"
            self.path_prefix = f"{parts.path.rstrip('/')}/"
        self.lifetime_seconds = lifetime_seconds
        self.window_seconds = lifetime_seconds // 2
        self.keys: SigningKeys | None = None

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    def url(self, object_key: str, now: float | None = None) -> str:
        if self.keys is None:
            raise StorageError("no credentials to sign media URLs with")
        moment = time.time() if now is None else now
        signed_at = dt.datetime.fromtimestamp(moment - moment % self.window_seconds, tz=dt.UTC)
        stamp = signed_at.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{signed_at:%Y%m%d}/{self.region}/s3/aws4_request"
        path = self.path_prefix + quote(object_key, safe="/~")
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{self.keys.access_key_id}/{scope}",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": str(self.lifetime_seconds),
            "X-Amz-SignedHeaders": "host",
        }
        if self.keys.session_token:
            query["X-Amz-Security-Token"] = self.keys.session_token
        canonical_query = "&".join(
            f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
            for name, value in sorted(query.items())
        )
        canonical_request = "\n".join(
            ["GET", path, canonical_query, f"host:{self.host}", "", "host", "UNSIGNED-PAYLOAD"]
        )
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                stamp,
                scope,
                hashlib.sha256(canonical_request.encode()).hexdigest(),
            ]
        )
        key = f"AWS4{self.keys.secret_access_key}".encode()
        for part in (f"{signed_at:%Y%m%d}", self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{self.origin}{path}?{canonical_query}&X-Amz-Signature={signature}"


class S3Storage:
    """The ``Storage`` interface over one bucket (and key prefix)."""

    def __init__(self, location: S3Location, options: S3Options) -> None:
        self.location = location
        self.options = options
        self._client: Any = None
        self._exit = contextlib.AsyncExitStack()
        self._presigned: PresignedUrls | None = None
        self._credentials: Any = None
        self._refresher: asyncio.Task[None] | None = None
        self._public_base = (options.public_base_url or "").rstrip("/") or None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        options = self.options
        session = _shared_session()
        config = Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            s3={"addressing_style": "path" if options.path_style else "virtual"},
            # Only what S3 needs: newer botocore adds CRC checksums to every
            # upload, which some S3-compatible stores refuse.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        credentials: dict[str, str] = {}
        if options.access_key_id and options.secret_access_key:
            credentials = {
                "aws_access_key_id": options.access_key_id,
                "aws_secret_access_key": options.secret_access_key,
            }
        self._client = await self._exit.enter_async_context(
            session.create_client(
                "s3",
                endpoint_url=options.endpoint_url,
                region_name=options.region,
                config=config,
                **credentials,
            )
        )
        if self._public_base is None:
            self._presigned = PresignedUrls(
                self._client.meta.endpoint_url,
                self.location.bucket,
                self._client.meta.region_name or "us-east-1",
                path_style=options.path_style,
                lifetime_seconds=options.presign_seconds,
            )
            self._credentials = await session.get_credentials() if not credentials else None
            await self._read_signing_keys(credentials)
            if self._credentials is not None and getattr(self._credentials, "method", "") not in (
                "env",
                "shared-credentials-file",
                "config-file",
            ):
                self._refresher = asyncio.create_task(
                    self._keep_credentials_fresh(), name="s3-credentials"
                )

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        await self._exit.aclose()
        self._client = None

    async def _read_signing_keys(self, static: Mapping[str, str]) -> None:
        assert self._presigned is not None
        if static:
            self._presigned.keys = SigningKeys(
                static["aws_access_key_id"], static["aws_secret_access_key"]
            )
        elif self._credentials is not None:
            frozen = await self._credentials.get_frozen_credentials()
            self._presigned.keys = SigningKeys(
                frozen.access_key, frozen.secret_key, frozen.token or None
            )
        else:
            raise StorageError(
                "no S3 credentials were found to sign photo URLs with: set "
                "GALLERY_S3_ACCESS_KEY_ID and GALLERY_S3_SECRET_ACCESS_KEY (or AWS_*), "
                "or GALLERY_MEDIA_URL if the bucket is public"
            )

    async def _keep_credentials_fresh(self) -> None:
        """Temporary credentials (a role's) are re-read before they expire.

        ``url`` is synchronous (templates call it), so it signs with the keys read
        last; botocore renews temporary ones as they near their expiry.
        """
        while True:
            await asyncio.sleep(CREDENTIALS_REFRESH_SECONDS)
            try:
                await self._read_signing_keys({})
            except (BotoCoreError, OSError):
                log.exception("Could not refresh the S3 credentials; signing with the old ones")

    @property
    def client(self) -> Any:
        if self._client is None:
            raise StorageError("the S3 storage is not started")
        return self._client

    async def check_bucket(self) -> None:
        """Raise ``StorageError`` saying exactly why the bucket cannot be used, if it cannot."""
        bucket = self.location.bucket
        try:
            await self.client.head_bucket(Bucket=bucket)
        except ClientError as error:
            # A HEAD answer has no body, so no error code beyond its status: ask
            # again with a GET (of a key that does not exist), whose answer says why.
            try:
                await self.client.get_object(
                    Bucket=bucket, Key=self.location.object_key(f"{secrets.token_hex(16)}.check")
                )
            except ClientError as explained:
                if _code(explained) not in MISSING_CODES or _code(explained) == "NoSuchBucket":
                    raise StorageError(
                        _bucket_problem(explained, bucket, self.options)
                    ) from explained
            raise StorageError(_bucket_problem(error, bucket, self.options)) from error
        except BotoCoreError as error:
            raise StorageError(
                f"cannot reach the store at {self.options.endpoint_url or 'AWS'}: {error}"
            ) from error

    async def stored_headers(self, key: str) -> dict[str, str]:
        """The Content-Type and Cache-Control the store keeps for ``key``."""
        head = await self.client.head_object(
            Bucket=self.location.bucket, Key=self.location.object_key(key)
        )
        return {
            "Content-Type": str(head.get("ContentType", "")),
            "Cache-Control": str(head.get("CacheControl", "")),
        }

    # -- the Storage interface -----------------------------------------------------

    async def put(self, key: str, data: bytes) -> None:
        """One PUT: S3 makes an object visible whole or not at all."""
        if not is_valid_key(key):
            raise StorageError(f"not a storage key: {key!r}")
        try:
            await self.client.put_object(
                Bucket=self.location.bucket,
                Key=self.location.object_key(key),
                Body=data,
                ContentLength=len(data),
                ContentType=content_type_of(key),
                CacheControl=IMMUTABLE_CACHE_CONTROL,
                ContentMD5=_content_md5(data),
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"could not store {key}: {_describe(error)}") from error

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """A multipart upload, one part in memory at a time; one PUT if it all fits in one.

        S3 shows the object only once the upload is completed, so it appears
        whole or not at all. On any failure, cancellation included, the upload
        is aborted: its parts would otherwise stay in the bucket, billed and
        invisible. A process killed outright cannot abort: the retry calls
        ``abort_unfinished_uploads`` first (and a bucket lifecycle rule that
        aborts incomplete uploads after a day is the safety net).
        """
        if not is_valid_key(key):
            raise StorageError(f"not a storage key: {key!r}")
        object_key = self.location.object_key(key)
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        stored = 0
        part = _Part()
        try:
            async for chunk in chunks:
                part.add(chunk)
                if part.size >= MULTIPART_PART_BYTES:
                    if upload_id is None:
                        upload_id = await self._create_upload(key)
                    parts.append(
                        await self._upload_part(object_key, upload_id, len(parts) + 1, part)
                    )
                    stored += part.size
                    part = _Part()
            if upload_id is None:
                await self.client.put_object(
                    Bucket=self.location.bucket,
                    Key=object_key,
                    Body=part.body(),
                    ContentLength=part.size,
                    ContentType=content_type_of(key),
                    CacheControl=PRIVATE_CACHE_CONTROL,
                    ContentMD5=part.content_md5(),
                )
                return part.size
            if part.size:
                parts.append(await self._upload_part(object_key, upload_id, len(parts) + 1, part))
                stored += part.size
            await self.client.complete_multipart_upload(
                Bucket=self.location.bucket,
                Key=object_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException as error:
            if upload_id is not None:
                await finish_despite_cancellation(self._abort_upload(object_key, upload_id))
            if isinstance(error, ClientError | BotoCoreError):
                raise StorageError(f"could not store {key}: {_describe(error)}") from error
            raise
        return stored

    async def _create_upload(self, key: str) -> str:
        answer = await self.client.create_multipart_upload(
            Bucket=self.location.bucket,
            Key=self.location.object_key(key),
            ContentType=content_type_of(key),
            CacheControl=PRIVATE_CACHE_CONTROL,
        )
        return str(answer["UploadId"])

    async def _upload_part(
        self, object_key: str, upload_id: str, number: int, part: _Part
    ) -> dict[str, Any]:
        answer = await self.client.upload_part(
            Bucket=self.location.bucket,
            Key=object_key,
            UploadId=upload_id,
            PartNumber=number,
            Body=part.body(),
            ContentLength=part.size,
            ContentMD5=part.content_md5(),
        )
        return {"ETag": answer["ETag"], "PartNumber": number}

    async def _abort_upload(self, object_key: str, upload_id: str) -> bool:
        """Abort one upload, best effort: a failure is logged, the caller's error matters more."""
        try:
            await self.client.abort_multipart_upload(
                Bucket=self.location.bucket, Key=object_key, UploadId=upload_id
            )
        except (ClientError, BotoCoreError) as error:
            log.warning(
                "Could not abort the upload %s of %s: %s", upload_id, object_key, _describe(error)
            )
            return False
        return True

    async def abort_unfinished_uploads(self, key: str) -> int:
        """Abort every multipart upload of ``key`` still open; how many there were.

        For a job that was killed mid-upload (so its own abort never ran) and
        now starts again: the parts of its first try are removed.
        """
        if not is_valid_key(key):
            raise StorageError(f"not a storage key: {key!r}")
        object_key = self.location.object_key(key)
        try:
            # Listed first, aborted after: the listing's markers stay valid.
            paginator = self.client.get_paginator("list_multipart_uploads")
            upload_ids = [
                str(upload["UploadId"])
                async for page in paginator.paginate(Bucket=self.location.bucket, Prefix=object_key)
                for upload in page.get("Uploads", [])
                if upload["Key"] == object_key  # a prefix: longer keys would match too
            ]
        except (ClientError, BotoCoreError) as error:
            raise StorageError(
                f"could not list the uploads of {key}: {_describe(error)}"
            ) from error
        aborted = 0
        for upload_id in upload_ids:
            if await self._abort_upload(object_key, upload_id):
                aborted += 1
        return aborted

    async def open(self, key: str) -> bytes:
        if not is_valid_key(key):
            raise StoredFileMissing(key)
        try:
            answer = await self.client.get_object(
                Bucket=self.location.bucket, Key=self.location.object_key(key)
            )
            async with answer["Body"] as body:
                data: bytes = await body.read()
            return data
        except ClientError as error:
            if _code(error) in MISSING_CODES:
                raise StoredFileMissing(key) from error
            raise StorageError(f"could not read {key}: {_describe(error)}") from error
        except BotoCoreError as error:
            raise StorageError(f"could not read {key}: {_describe(error)}") from error

    async def open_stream(self, key: str, chunk_bytes: int = STREAM_CHUNK_BYTES) -> StoredStream:
        """A GET whose body is read as the chunks are asked for.

        The GET is made here, so a missing object raises ``StoredFileMissing``
        before any chunk; the connection is held until the stream is closed.
        """
        if chunk_bytes < 1:
            raise ValueError(f"chunks of at least one byte, not {chunk_bytes}")
        if not is_valid_key(key):
            raise StoredFileMissing(key)
        try:
            answer = await self.client.get_object(
                Bucket=self.location.bucket, Key=self.location.object_key(key)
            )
        except ClientError as error:
            if _code(error) in MISSING_CODES:
                raise StoredFileMissing(key) from error
            raise StorageError(f"could not read {key}: {_describe(error)}") from error
        except BotoCoreError as error:
            raise StorageError(f"could not read {key}: {_describe(error)}") from error
        body = answer["Body"]

        async def read_chunk() -> bytes:
            try:
                chunk: bytes = await body.read(chunk_bytes)
            except BotoCoreError as error:  # cut off, timed out, or shorter than announced
                raise StorageError(f"could not read {key}: {_describe(error)}") from error
            return chunk

        return StoredStream(read_chunk, body.aclose)

    async def size(self, key: str) -> int | None:
        """The stored object's size in bytes, or ``None`` if there is none."""
        try:
            head = await self.client.head_object(
                Bucket=self.location.bucket, Key=self.location.object_key(key)
            )
        except ClientError as error:
            if _code(error) in MISSING_CODES:
                return None
            raise StorageError(f"could not look at {key}: {_describe(error)}") from error
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        if not is_valid_key(key):
            return
        try:
            # Deleting a missing object succeeds in S3: nothing to special-case.
            await self.client.delete_object(
                Bucket=self.location.bucket, Key=self.location.object_key(key)
            )
        except (ClientError, BotoCoreError) as error:
            raise StorageError(f"could not delete {key}: {_describe(error)}") from error

    def url(self, key: str) -> str:
        if self._public_base is not None:
            return f"{self._public_base}/{quote(key, safe='/')}"
        if self._presigned is None:
            raise StorageError("the S3 storage is not started")
        return self._presigned.url(self.location.object_key(key))

    @property
    def media_origin(self) -> str | None:
        """Where pages load images from (for the Content-Security-Policy)."""
        if self._public_base is not None:
            parts = urlsplit(self._public_base)
            return f"{parts.scheme}://{parts.netloc}"
        if self._presigned is not None:
            return self._presigned.origin
        return None

    def __str__(self) -> str:
        where = self.options.endpoint_url or "AWS"
        return f"{self.location} at {where}"


class _Part:
    """One part of a multipart upload as its chunks arrive, and their MD5.

    The bytes go into a ``BytesIO`` that is itself the request body: the HTTP
    client reads it in small pieces. A ``bytes`` body would be copied whole
    into the connection's send buffer, and a ``bytearray`` twice.
    """

    def __init__(self) -> None:
        self._bytes = io.BytesIO()
        self._md5 = hashlib.md5(usedforsecurity=False)  # S3's own integrity check
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self._bytes.write(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def body(self) -> io.BytesIO:
        self._bytes.seek(0)
        return self._bytes

    def content_md5(self) -> str:
        return base64.b64encode(self._md5.digest()).decode()


@functools.cache
def _shared_session() -> AioSession:
    """One botocore session per process: it loads S3's service description (about
    0.1 s) once, so each client made afterwards costs a quarter of that."""
    return get_session()


def _content_md5(data: bytes) -> str:
    """Integrity on the way in: the store refuses a body that arrived damaged."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 (S3's own check)


def _bucket_problem(error: ClientError, bucket: str, options: S3Options) -> str:
    code = _code(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    key_id = options.access_key_id or "botocore found (AWS_ACCESS_KEY_ID, a profile, a role)"
    if code in ("NoSuchBucket", "404", "NotFound"):
        return f"the bucket {bucket!r} does not exist: create it, or fix GALLERY_STORAGE_URL"
    if code == "InvalidAccessKeyId":
        return f"the store does not know the access key {key_id}"
    if code == "SignatureDoesNotMatch":
        return "the secret key does not match the access key (GALLERY_S3_SECRET_ACCESS_KEY)"
    if code in ("403", "AccessDenied", "Forbidden") or status == 403:
        return (
            f"access to the bucket {bucket!r} is denied: the access key {key_id} is wrong, "
            "or may not use this bucket"
        )
    if code == "PermanentRedirect" or status == 301:
        return f"the bucket {bucket!r} is in another region than {options.region or 'the default'}"
    return f"the store refused to look at the bucket {bucket!r}: {_describe(error)}"


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{details.get('Code', 'error')} ({status}): {details.get('Message', '')}".strip()
    return str(error)

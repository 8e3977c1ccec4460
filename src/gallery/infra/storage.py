"""Where image bytes live, behind a small interface: a local folder (the
embedded default) or an S3-compatible bucket (``gallery.infra.s3_storage``).

Services only ever hold *keys*: relative, random, sharded names such as
``3f/a2/3fa2…9c_display.jpg``. A backend maps a key to bytes and to the URL
browsers fetch it from; nothing above this module knows which backend it has.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from gallery.settings import Settings

# What keys look like: two shard folders, a random stem, a variant and an extension.
KEY_PATTERN = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}(?:_[a-z][a-z0-9]*)?\.[a-z0-9]{2,5}")
# Keys are random and never reused, so whoever serves a file may let it be cached for good.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
# The types of what the image pipeline stores, by the key's extension.
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "avif": "image/avif",
    "png": "image/png",
    "gif": "image/gif",
}


class StoredFileMissing(LookupError):
    """No file is stored under that key."""


class StorageError(OSError):
    """The store could not do what was asked (unreachable, refused, misconfigured).

    An ``OSError``, as a full disk or a permission problem of the folder is.
    """


def content_type_of(key: str) -> str:
    """The ``Content-Type`` a stored file is served with (nosniff needs the right one)."""
    return CONTENT_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")


class Storage(Protocol):
    async def start(self) -> None:
        """Open connections (called as the app or a command starts)."""

    async def close(self) -> None:
        """Close them again."""

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` so that it appears whole or not at all."""

    async def open(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``StoredFileMissing`` if there are none."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    async def size(self, key: str) -> int | None:
        """The stored size of ``key`` in bytes, or ``None`` if nothing is stored."""

    def url(self, key: str) -> str:
        """The URL browsers fetch the file from."""

    @property
    def media_origin(self) -> str | None:
        """The origin of those URLs when it is not the site's own (for the CSP)."""


def new_stem() -> str:
    """A random name shared by one upload's files: 128 bits, never user-supplied.

    The first four hex digits become two folder levels (65 536 folders), so a
    million images put about fifteen files in each folder.
    """
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token[2:4]}/{token}"


def is_valid_key(key: str) -> bool:
    return KEY_PATTERN.fullmatch(key) is not None


class LocalStorage:
    """Files in a folder (``GALLERY_MEDIA_DIR``), served at ``/media/<key>``.

    In production nginx serves the same folder under the same path.
    """

    def __init__(self, root: Path, url_prefix: str = "/media/") -> None:
        self.root = root
        self.url_prefix = url_prefix

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    @property
    def media_origin(self) -> str | None:
        parts = urlsplit(self.url_prefix)
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else None

    def __str__(self) -> str:
        return f"the folder {self.root}"

    def _path(self, key: str) -> Path:
        # Keys are generated here (``new_stem``); anything else never reaches
        # the file system, so no "../" or absolute path can escape the root.
        if not is_valid_key(key):
            raise StoredFileMissing(key)
        return self.root / key

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write under a temporary name in the same folder, then rename: readers
        # (and nginx) see the whole file or nothing, even if we crash midway.
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with temporary.open("xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    async def open(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise StoredFileMissing(key) from error

    async def size(self, key: str) -> int | None:
        """The stored file's size in bytes, or ``None`` if there is none."""
        try:
            stat = await asyncio.to_thread(self._path(key).stat)
        except (StoredFileMissing, FileNotFoundError, NotADirectoryError):
            return None
        return stat.st_size

    async def delete(self, key: str) -> None:
        try:
            path = self._path(key)
        except StoredFileMissing:
            return
        await asyncio.to_thread(path.unlink, missing_ok=True)

    def url(self, key: str) -> str:
        return f"{self.url_prefix}{key}"


def make_storage(settings: Settings) -> Storage:
    """The backend the settings choose: the bucket of ``storage_url``, else the folder."""
    if settings.storage_url:
        from gallery.infra.s3_storage import S3Location, S3Options, S3Storage

        options = S3Options(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            addressing_style=settings.s3_addressing_style,
            public_base_url=settings.media_url,
            presign_seconds=settings.s3_url_lifetime_seconds,
        )
        return S3Storage(S3Location.parse(settings.storage_url), options)
    assert settings.media_dir is not None, "Settings fills in the media folder"
    media_url = (settings.media_url or "").rstrip("/")
    return LocalStorage(settings.media_dir, f"{media_url}/" if media_url else "/media/")

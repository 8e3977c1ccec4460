"""Where image bytes live, behind a small interface: a local folder (the
embedded default) or an S3-compatible bucket (``gallery.infra.s3_storage``).

Services only ever hold *keys*: relative, random, sharded names such as
``3f/a2/3fa2…9c_display.jpg``. A backend maps a key to bytes and to the URL
browsers fetch it from; nothing above this module knows which backend it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from gallery.infra.s3_storage import S3Options
    from gallery.settings import Settings

T = TypeVar("T")

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
    "zip": "application/zip",  # a user's data export
}
# How much ``open_stream`` reads at a time unless told otherwise.
STREAM_CHUNK_BYTES = 1024 * 1024
# ``LocalStorage.put_stream`` gathers small chunks up to this much before writing:
# one trip to a thread per chunk would cost more than the write for tiny ones.
LOCAL_WRITE_BYTES = 1024 * 1024


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

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the concatenated ``chunks`` under ``key``, whole or not at all.

        For files too big to hold in memory (a data export): about one part is
        held at a time. If ``chunks`` raises, or the caller is cancelled, nothing
        is left behind and the error goes on. Returns the number of bytes stored.
        """

    async def open_stream(self, key: str, chunk_bytes: int = STREAM_CHUNK_BYTES) -> StoredStream:
        """The bytes stored under ``key``, to read in chunks of at most ``chunk_bytes``.

        Raises ``StoredFileMissing`` at once, before any chunk is read, so that
        a download route can answer 404 before it sends its headers.
        """

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    async def abort_unfinished_uploads(self, key: str) -> int:
        """Remove what a ``put_stream`` of ``key`` that was killed left; how many.

        A process killed mid-stream (SIGKILL, a lost machine) runs none of its
        clean-up: its temporary file, or its S3 multipart upload, stays. A job
        that starts the same key again calls this first.
        """

    async def size(self, key: str) -> int | None:
        """The stored size of ``key`` in bytes, or ``None`` if nothing is stored."""

    def url(self, key: str) -> str:
        """The URL browsers fetch the file from."""

    @property
    def media_origin(self) -> str | None:
        """The origin of those URLs when it is not the site's own (for the CSP)."""


class StoredStream(AsyncIterator[bytes]):
    """The bytes of one stored file, read a chunk at a time as they are asked for.

    ``open_stream`` hands it out already open (so a missing file is known before
    the first chunk). It lets go of the file, or of the connection, once the
    last chunk is read, when reading fails, and on ``aclose()``, which works
    before the first chunk too (an async generator would skip its ``finally``
    then). Quart calls ``aclose()`` when a response body ends, sent or not.
    """

    def __init__(
        self, read_chunk: Callable[[], Awaitable[bytes]], release: Callable[[], Awaitable[None]]
    ) -> None:
        self._read_chunk = read_chunk
        self._release = release
        self._released = False

    async def __anext__(self) -> bytes:
        if self._released:
            raise StopAsyncIteration
        try:
            chunk = await self._read_chunk()
        except BaseException:
            await self.aclose()
            raise
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            await finish_despite_cancellation(self._release())

    async def __aenter__(self) -> StoredStream:
        return self

    async def __aexit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


# Clean-ups whose caller was cancelled while waiting for them: the event loop
# holds tasks only weakly, so these references keep them running to their end.
_CLEANUPS: set[asyncio.Future[Any]] = set()


async def finish_despite_cancellation(cleanup: Awaitable[T]) -> T:
    """Await ``cleanup``, which runs to its end even if the caller is cancelled meanwhile.

    A clean-up often runs *because* of a cancellation (a job stopped, a client
    gone); being cancelled again must not leave a temporary file or an unfinished
    upload behind.
    """
    task = asyncio.ensure_future(cleanup)
    _CLEANUPS.add(task)
    task.add_done_callback(_CLEANUPS.discard)
    return await asyncio.shield(task)


async def _opened(opening: Coroutine[Any, Any, T], close: Callable[[T], Awaitable[object]]) -> T:
    """Await ``opening`` (a thread opening a file) without leaking what it opens.

    A cancelled ``asyncio.to_thread`` does not stop its thread: the file gets
    opened all the same, and nobody would close (or remove) it. So if the
    caller is cancelled meanwhile, ``close`` is called on it once it is open.
    """
    task = asyncio.ensure_future(opening)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await finish_despite_cancellation(_close_once_open(task, close))
        raise


async def _close_once_open(
    task: asyncio.Future[T], close: Callable[[T], Awaitable[object]]
) -> None:
    try:
        opened = await task
    except Exception:
        return  # it could not be opened: nothing to close
    await close(opened)


async def _close_in_thread(handle: io.BufferedIOBase) -> None:
    await asyncio.to_thread(handle.close)


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

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Like ``put``: a temporary file in the same folder, renamed once whole."""
        path = self._path(key)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        handle = await _opened(
            asyncio.to_thread(self._create_temporary, temporary),
            partial(self._discard_in_thread, temporary),
        )
        try:
            stored = 0
            pending = bytearray()
            async for chunk in chunks:
                pending += chunk
                stored += len(chunk)
                if len(pending) >= LOCAL_WRITE_BYTES:
                    await asyncio.to_thread(handle.write, pending)
                    # A new buffer, not a cleared one: if this task is cancelled
                    # mid-write, the thread may still be reading the old one.
                    pending = bytearray()
            await asyncio.to_thread(self._commit, handle, pending, temporary, path)
        except BaseException:
            await finish_despite_cancellation(self._discard_in_thread(temporary, handle))
            raise
        return stored

    @staticmethod
    def _create_temporary(temporary: Path) -> io.BufferedWriter:
        temporary.parent.mkdir(parents=True, exist_ok=True)
        return temporary.open("xb")

    @staticmethod
    def _commit(handle: io.BufferedWriter, last: bytes | bytearray, temporary: Path,
                path: Path) -> None:  # fmt: skip
        with handle:
            handle.write(last)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    @staticmethod
    async def _discard_in_thread(temporary: Path, handle: io.BufferedWriter) -> None:
        def discard() -> None:
            with contextlib.suppress(OSError):  # closing flushes, which fails on a full disk
                handle.close()
            temporary.unlink(missing_ok=True)

        await asyncio.to_thread(discard)

    async def open_stream(self, key: str, chunk_bytes: int = STREAM_CHUNK_BYTES) -> StoredStream:
        if chunk_bytes < 1:
            raise ValueError(f"chunks of at least one byte, not {chunk_bytes}")
        path = self._path(key)
        try:
            handle = await _opened(asyncio.to_thread(path.open, "rb"), _close_in_thread)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise StoredFileMissing(key) from error
        return StoredStream(
            partial(asyncio.to_thread, handle.read, chunk_bytes),
            partial(_close_in_thread, handle),
        )

    async def size(self, key: str) -> int | None:
        """The stored file's size in bytes, or ``None`` if there is none."""
        try:
            stat = await asyncio.to_thread(self._path(key).stat)
        except (StoredFileMissing, FileNotFoundError, NotADirectoryError):
            return None
        return stat.st_size

    async def abort_unfinished_uploads(self, key: str) -> int:
        """Remove the temporary files of streams of ``key`` whose writer was killed."""
        path = self._path(key)

        def remove_temporaries() -> int:
            removed = 0
            # Named as in put_stream: ".<name>.<8 hex digits>.tmp" beside the file.
            for temporary in path.parent.glob(f".{path.name}.*.tmp"):
                temporary.unlink(missing_ok=True)
                removed += 1
            return removed

        return await asyncio.to_thread(remove_temporaries)

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
        from gallery.infra.s3_storage import S3Location, S3Storage

        return S3Storage(S3Location.parse(settings.storage_url), _s3_options(settings))
    assert settings.media_dir is not None, "Settings fills in the media folder"
    media_url = (settings.media_url or "").rstrip("/")
    return LocalStorage(settings.media_dir, f"{media_url}/" if media_url else "/media/")


def make_export_storage(settings: Settings) -> Storage:
    """Where users' data exports go: the same back-end as the media, apart from them.

    Exports are private and reach their owner only through the app's download
    route, never by URL (``url()`` is not used). In a bucket they sit under
    ``<prefix>exports/``, beside the media keys (which never start so); a bucket
    made public for the media should keep that prefix out of its policy. On
    disk they are in ``<instance>/exports``, outside the media folder that nginx
    serves to anyone.
    """
    if settings.storage_url:
        from gallery.infra.s3_storage import S3Location, S3Storage

        media = S3Location.parse(settings.storage_url)
        exports = S3Location(media.bucket, f"{media.prefix}exports/")
        return S3Storage(exports, _s3_options(settings))
    return LocalStorage(settings.export_dir, url_prefix="")


def _s3_options(settings: Settings) -> S3Options:
    from gallery.infra.s3_storage import S3Options

    return S3Options(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        addressing_style=settings.s3_addressing_style,
        public_base_url=settings.media_url,
        presign_seconds=settings.s3_url_lifetime_seconds,
    )

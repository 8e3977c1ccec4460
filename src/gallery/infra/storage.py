"""Where image bytes live, behind a small interface (a local folder now).

Services only ever hold *keys*: relative, random, sharded names such as
``3f/a2/3fa2…9c_display.jpg``. A backend maps a key to bytes and to a public
URL; an S3-compatible backend would implement the same four methods (``put``,
``open``, ``delete``, ``url``) and nothing above this module would change.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import Protocol

# What keys look like: two shard folders, a random stem, a variant and an extension.
KEY_PATTERN = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}(?:_[a-z]+)?\.[a-z0-9]{2,5}")


class StoredFileMissing(LookupError):
    """No file is stored under that key."""


class Storage(Protocol):
    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` so that it appears whole or not at all."""

    async def open(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``StoredFileMissing`` if there are none."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    def url(self, key: str) -> str:
        """The URL browsers fetch the file from."""


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

    async def delete(self, key: str) -> None:
        try:
            path = self._path(key)
        except StoredFileMissing:
            return
        await asyncio.to_thread(path.unlink, missing_ok=True)

    def url(self, key: str) -> str:
        return f"{self.url_prefix}{key}"


def make_storage(media_dir: Path) -> Storage:
    return LocalStorage(media_dir)

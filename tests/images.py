"""Image bytes and uploads for tests: real files from ../shared/images and Pillow-made ones."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import httpx
from PIL import Image as PILImage
from quart.typing import TestClientProtocol as Client
from werkzeug.datastructures import FileStorage

from gallery import imaging
from gallery.infra.runtime import Runtime
from gallery.infra.s3_storage import S3Storage
from gallery.infra.storage import LocalStorage, Storage
from gallery.models.image import Image, Photo
from gallery.models.user import User
from gallery.services import comments, images, tags

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_shared_images() -> Path:
    """The real-world test images of ``../shared/images`` (Pillow's own test files).

    ``GALLERY_TEST_IMAGES`` names the folder explicitly; otherwise it is the
    ``shared/images`` folder next to this checkout (or next to any folder above
    it, for clones made elsewhere), then ``/work/shared/images``.
    """
    explicit = os.environ.get("GALLERY_TEST_IMAGES")
    if explicit:
        return Path(explicit)
    candidates = [parent / "shared" / "images" for parent in REPO_ROOT.parents]
    candidates.append(Path("/work/shared/images"))
    for candidate in candidates:
        if (candidate / "README.md").is_file():
            return candidate
    return candidates[0]


SHARED_IMAGES = find_shared_images()


def files_per_photo(width: int) -> int:
    """What storing one photo ``width`` pixels wide writes: the original, the display
    file, the thumbnail, and each of its srcset widths in WebP and in JPEG."""
    return 3 + 2 * len(imaging.responsive_widths(width))


# A jpeg_bytes() photo (640 wide): 320 and 640 in two formats besides the three.
DEFAULT_PHOTO_FILES = files_per_photo(640)


def shared_image(name: str) -> bytes:
    path = SHARED_IMAGES / name
    assert path.is_file(), f"the shared test image {path} is missing"
    return path.read_bytes()


def jpeg_bytes(
    width: int = 640, height: int = 480, colour: tuple[int, int, int] = (30, 90, 160)
) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def upload_file(
    data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg"
) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=filename, content_type=content_type)


async def api_upload(
    client: Client,
    token: str,
    data: bytes | None = None,
    *,
    filename: str = "photo.jpg",
    description: str = "",
    extra: dict[str, str] | None = None,
) -> Any:
    """POST /api/v1/images as a script would (``extra``: more form fields)."""
    return await client.post(
        "/api/v1/images",
        files={"file": upload_file(data if data is not None else jpeg_bytes(), filename)},
        form={"description": description, **(extra or {})},
        headers={"X-CSRF-Token": token},
    )


async def store_image(runtime: Runtime, user_id: int, description: str = "", **size: int) -> int:
    """An image stored through the service, as an upload would; returns its id."""
    async with runtime.db.session() as session:
        author = await session.get(User, user_id)
        assert author is not None
        image: Image = await images.ingest(
            session,
            runtime.storage,
            runtime.redis,
            author=author,
            data=jpeg_bytes(**size),
            description=description,
        )
        return image.id


async def stored_files(runtime: Runtime) -> list[str]:
    """The keys stored now, in the folder or the bucket the runtime uses (sorted)."""
    return await list_stored_keys(runtime.storage)


async def list_stored_keys(storage: Storage) -> list[str]:
    """Every key in a storage, listed from the store itself (not from rows)."""
    if isinstance(storage, S3Storage):
        keys = []
        paginator = storage.client.get_paginator("list_objects_v2")
        prefix = storage.location.prefix
        async for page in paginator.paginate(Bucket=storage.location.bucket, Prefix=prefix):
            keys.extend(item["Key"][len(prefix) :] for item in page.get("Contents", []))
        return sorted(keys)
    assert isinstance(storage, LocalStorage)
    root = storage.root
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def image_row(author_id: int, index: int, description: str = "") -> Image:
    """A post of one photo whose keys point at no file, for tests that only look at rows."""
    return Image(
        author_id=author_id,
        description=description,
        photos=[
            Photo(
                owner_id=author_id,
                position=0,
                original_key=f"00/00/{index:032x}_original.jpg",
                display_key=f"00/00/{index:032x}_display.jpg",
                thumb_key=f"00/00/{index:032x}_thumb.jpg",
                width=800,
                height=600,
                thumb_size=400,
            )
        ],
    )


async def add_image_rows(runtime: Runtime, user_id: int, count: int) -> list[int]:
    """Image rows without files, for feed tests that only look at the rows (fast)."""
    async with runtime.db.session() as session:
        rows = [image_row(user_id, index, f"row {index}") for index in range(count)]
        session.add_all(rows)
        await session.commit()
        return [row.id for row in rows]


async def add_described_images(runtime: Runtime, user_id: int, *descriptions: str) -> list[int]:
    """Image rows with these descriptions and their tags (no files), oldest first; their ids."""
    ids = []
    async with runtime.db.session() as session:
        for index, description in enumerate(descriptions):
            image = image_row(user_id, index, description)
            session.add(image)
            await session.flush()
            await tags.attach_tags(session, image.id, tags.parse_hashtags(description))
            ids.append(image.id)
        await session.commit()
    return ids


async def add_comment_rows(runtime: Runtime, image_id: int, author_id: int, count: int) -> None:
    """``count`` comments (``comment 0``, ``comment 1``…) through the service, without
    Redis: the counts move, the feed version does not."""
    async with runtime.db.session() as session:
        for index in range(count):
            author = await session.get(User, author_id)
            assert author is not None
            await comments.add_comment(
                session, None, image_id=image_id, author=author, content=f"comment {index}"
            )


def multipart(
    fields: dict[str, str] | list[tuple[str, str]], files: list[tuple[str, str, bytes]]
) -> tuple[bytes, str]:
    """A multipart/form-data body with repeated fields (Quart's test client takes
    dicts, so one field name can carry only one value there). Files come after
    the fields, in order."""
    boundary = "gallery-test-boundary-7d3f"
    parts: list[bytes] = []
    for name, value in fields.items() if isinstance(fields, dict) else fields:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, filename, data in files:
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def fetch_photo(client: Client, url: str) -> tuple[int, str]:
    """Status and Content-Type of a photo URL, as a browser would fetch it: from the
    site (``/media/…``) through the test client, or from the bucket over HTTP."""
    if url.startswith("/"):
        response = await client.get(url)
        return response.status_code, response.headers.get("Content-Type", "")
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)
        return answer.status_code, answer.headers.get("content-type", "")

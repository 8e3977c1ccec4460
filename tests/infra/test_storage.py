"""``LocalStorage``: keys to files under one folder, written atomically, never outside it."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from gallery.infra.s3_storage import S3Location, S3Storage
from gallery.infra.storage import (
    LOCAL_WRITE_BYTES,
    LocalStorage,
    StoredFileMissing,
    content_type_of,
    is_valid_key,
    make_export_storage,
    make_storage,
    new_stem,
)
from gallery.settings import Settings

STEM_SHAPE = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{32})")
INVALID_KEYS = [
    "../etc/passwd",
    "/abs",
    "/etc/passwd",
    "ab/cd/../../x.jpg",
    "x.jpg",
    "",
    "ab/cd/",
    "../secret.txt",
    "ab/cd/" + "0" * 32 + ".jpg/../../../../secret.txt",
    "AB/CD/" + "A" * 32 + ".jpg",
    "ab/cd/" + "0" * 31 + ".jpg",
    "ab\\cd\\" + "0" * 32 + ".jpg",
    "ab/cd/" + "0" * 32 + ".jpg\n",
    "ab/cd/" + "0" * 32 + ".jpg\x00",
    " ab/cd/" + "0" * 32 + ".jpg",
]


def _key(variant: str = "display", extension: str = "jpg") -> str:
    return f"{new_stem()}_{variant}.{extension}"


def _files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


def _leftover_temporaries(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.endswith(".tmp")]


def _storage(tmp_path: Path) -> LocalStorage:
    root = tmp_path / "media"
    root.mkdir()
    return LocalStorage(root)


async def _stream(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)  # a real producer (the zip writer) awaits between chunks
        yield chunk


async def _stream_failing_after(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in _stream(chunks):
        yield chunk
    raise RuntimeError("the export job failed midway")


async def _read_all(storage: LocalStorage, key: str, chunk_bytes: int) -> list[bytes]:
    return [chunk async for chunk in await storage.open_stream(key, chunk_bytes)]


def _open_files_of_this_process() -> set[str]:
    """What this process has open (Linux): to see a stream let go of its file."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # the fd listdir itself used, now closed
    return found


async def test_put_then_open_gives_the_same_bytes(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key()
    data = bytes(range(256)) * 1000

    await storage.put(key, data)

    assert await storage.open(key) == data


async def test_put_writes_the_file_at_root_slash_key_in_shard_folders(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    stem = new_stem()
    key = f"{stem}_thumb.webp"

    await storage.put(key, b"thumb bytes")

    token = stem.rsplit("/", 1)[1]
    expected = storage.root / token[:2] / token[2:4] / f"{token}_thumb.webp"
    assert expected == storage.root / key
    assert expected.read_bytes() == b"thumb bytes"
    assert _files_under(tmp_path) == [expected]


async def test_put_creates_the_root_folder_when_needed(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "not" / "there" / "yet")
    key = _key()

    await storage.put(key, b"x")

    assert (tmp_path / "not" / "there" / "yet" / key).read_bytes() == b"x"


async def test_put_leaves_no_temporary_file(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    keys = [_key(variant) for variant in ("original", "display", "thumb")]

    for key in keys:
        await storage.put(key, b"data for " + key.encode())

    assert _leftover_temporaries(tmp_path) == []
    assert [p.relative_to(storage.root).as_posix() for p in _files_under(tmp_path)] == sorted(keys)


async def test_put_of_empty_bytes_stores_an_empty_file(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key()

    await storage.put(key, b"")

    assert await storage.open(key) == b""
    assert _leftover_temporaries(tmp_path) == []


async def test_put_replaces_an_existing_file_whole(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key()
    await storage.put(key, b"old and much longer content" * 100)

    await storage.put(key, b"new")

    assert await storage.open(key) == b"new"
    assert _leftover_temporaries(tmp_path) == []


async def test_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    # The temporary file is written, then cannot replace the target (a folder is
    # in its way): the write fails and the temporary file is cleaned up.
    storage = _storage(tmp_path)
    key = _key()
    in_the_way = storage.root / key
    in_the_way.mkdir(parents=True)

    with pytest.raises(OSError):
        await storage.put(key, b"never visible")

    assert in_the_way.is_dir()
    assert _leftover_temporaries(tmp_path) == []
    assert _files_under(tmp_path) == []


async def test_put_whose_shard_folder_is_a_file_fails_and_writes_nothing(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key()
    shard = storage.root / key.split("/")[0]
    shard.write_bytes(b"a file where a folder should be")

    with pytest.raises(OSError):
        await storage.put(key, b"never visible")

    assert _files_under(tmp_path) == [shard]
    assert shard.read_bytes() == b"a file where a folder should be"
    assert _leftover_temporaries(tmp_path) == []


async def test_concurrent_puts_of_one_key_leave_one_whole_version(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key()
    versions = [bytes([index]) * 50_000 for index in range(8)]

    await asyncio.gather(*(storage.put(key, data) for data in versions))

    assert await storage.open(key) in versions
    assert _leftover_temporaries(tmp_path) == []
    assert _files_under(tmp_path) == [storage.root / key]


async def test_concurrent_puts_into_one_shard_folder_all_land(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    stem = new_stem()
    keys = [f"{stem}_{variant}.jpg" for variant in ("original", "display", "thumb", "extra")]

    await asyncio.gather(*(storage.put(key, key.encode()) for key in keys))

    for key in keys:
        assert await storage.open(key) == key.encode()


async def test_open_of_a_missing_key_raises_stored_file_missing(tmp_path: Path) -> None:
    storage = _storage(tmp_path)

    with pytest.raises(StoredFileMissing):
        await storage.open(_key())


async def test_open_of_a_key_that_is_a_folder_raises_stored_file_missing(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key()
    (storage.root / key).mkdir(parents=True)

    with pytest.raises(StoredFileMissing):
        await storage.open(key)


async def test_open_under_a_shard_that_is_a_file_raises_stored_file_missing(
    tmp_path: Path,
) -> None:
    storage = _storage(tmp_path)
    key = _key()
    (storage.root / key.split("/")[0]).write_bytes(b"not a folder")

    with pytest.raises(StoredFileMissing):
        await storage.open(key)


@pytest.mark.parametrize("key", INVALID_KEYS)
async def test_invalid_key_never_reaches_the_file_system(tmp_path: Path, key: str) -> None:
    storage = _storage(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside the media folder")
    before = _files_under(tmp_path)

    assert not is_valid_key(key)
    with pytest.raises(StoredFileMissing):
        await storage.open(key)
    with pytest.raises(StoredFileMissing):
        await storage.open_stream(key)
    with pytest.raises(StoredFileMissing):
        await storage.put(key, b"overwrite attempt")
    with pytest.raises(StoredFileMissing):
        await storage.put_stream(key, _stream([b"overwrite attempt"]))
    await storage.delete(key)  # nothing to delete: not an error

    assert _files_under(tmp_path) == before
    assert secret.read_bytes() == b"outside the media folder"
    assert list(storage.root.rglob("*")) == []


async def test_absolute_path_to_a_real_file_is_not_a_key(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"outside the media folder")

    with pytest.raises(StoredFileMissing):
        await storage.open(str(secret))
    await storage.delete(str(secret))

    assert secret.read_bytes() == b"outside the media folder"


async def test_delete_removes_the_file(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key, other = _key("display"), _key("thumb")
    await storage.put(key, b"to be deleted")
    await storage.put(other, b"to be kept")

    await storage.delete(key)

    assert not (storage.root / key).exists()
    with pytest.raises(StoredFileMissing):
        await storage.open(key)
    assert await storage.open(other) == b"to be kept"


async def test_deleting_a_missing_key_is_fine(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key()

    await storage.delete(key)  # never stored
    await storage.put(key, b"once")
    await storage.delete(key)
    await storage.delete(key)  # already gone

    assert _files_under(tmp_path) == []


async def test_put_stream_then_open_stream_gives_the_same_bytes(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key("export", "zip")
    # Several write buffers' worth, in chunks of uneven sizes, some tiny.
    chunks = [os.urandom(size) for size in [1, 300_000, 7, 1024 * 1024, 0, 2_500_000, 13]]

    stored = await storage.put_stream(key, _stream(chunks))

    data = b"".join(chunks)
    assert stored == len(data) > 2 * LOCAL_WRITE_BYTES
    read = await _read_all(storage, key, chunk_bytes=100_000)
    assert b"".join(read) == data
    assert max(len(chunk) for chunk in read) <= 100_000
    assert await storage.size(key) == len(data)
    assert _leftover_temporaries(tmp_path) == []
    assert _files_under(tmp_path) == [storage.root / key]


async def test_put_stream_of_a_few_bytes_and_of_nothing(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    small, empty = _key("export", "zip"), _key("other", "zip")

    assert await storage.put_stream(small, _stream([b"PK", b"\x05\x06"])) == 4
    assert await storage.put_stream(empty, _stream([])) == 0

    assert await _read_all(storage, small, chunk_bytes=3) == [b"PK\x05", b"\x06"]
    assert await _read_all(storage, empty, chunk_bytes=3) == []
    assert (storage.root / empty).read_bytes() == b""
    assert _leftover_temporaries(tmp_path) == []


async def test_a_stream_that_fails_midway_leaves_nothing(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key("export", "zip")
    chunks = [os.urandom(LOCAL_WRITE_BYTES)] * 3  # some of it is written before the failure

    with pytest.raises(RuntimeError, match="midway"):
        await storage.put_stream(key, _stream_failing_after(chunks))

    assert _files_under(tmp_path) == []
    assert _leftover_temporaries(tmp_path) == []


async def test_a_stream_that_fails_midway_keeps_the_previous_file_whole(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key("export", "zip")
    await storage.put_stream(key, _stream([b"the previous export"]))

    with pytest.raises(RuntimeError, match="midway"):
        await storage.put_stream(key, _stream_failing_after([b"x" * LOCAL_WRITE_BYTES] * 2))

    assert await storage.open(key) == b"the previous export"
    assert _leftover_temporaries(tmp_path) == []


async def test_a_stream_cancelled_midway_leaves_nothing(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key("export", "zip")
    written_some = asyncio.Event()

    async def stalling_after_some_writes() -> AsyncIterator[bytes]:
        async for chunk in _stream([b"y" * LOCAL_WRITE_BYTES] * 3):
            yield chunk
        written_some.set()
        await asyncio.Event().wait()  # the job hangs until it is cancelled
        yield b"never"

    upload = asyncio.create_task(storage.put_stream(key, stalling_after_some_writes()))
    await written_some.wait()
    assert len(_leftover_temporaries(tmp_path)) == 1  # mid-write: the temporary file
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload

    assert _files_under(tmp_path) == []


async def test_a_failed_commit_leaves_no_temporary_file(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key("export", "zip")
    (storage.root / key).mkdir(parents=True)  # in the way of the rename

    with pytest.raises(OSError):
        await storage.put_stream(key, _stream([b"never visible"]))

    assert _leftover_temporaries(tmp_path) == []
    assert _files_under(tmp_path) == []


async def test_open_stream_of_a_missing_file_raises_before_any_chunk(tmp_path: Path) -> None:
    """So the download route can answer 404 before it has sent any headers."""
    storage = _storage(tmp_path)
    key = _key("export", "zip")
    folder_key = _key("other", "zip")
    (storage.root / folder_key).mkdir(parents=True)

    for missing in (key, folder_key):
        with pytest.raises(StoredFileMissing):
            await storage.open_stream(missing)


async def test_a_stream_holds_its_file_open_until_read_or_closed(tmp_path: Path) -> None:
    storage = _storage(tmp_path)
    key = _key("export", "zip")
    await storage.put(key, b"z" * 10)
    path = os.path.realpath(storage.root / key)

    read_to_the_end = await storage.open_stream(key, chunk_bytes=4)
    assert path in _open_files_of_this_process()
    assert [chunk async for chunk in read_to_the_end] == [b"zzzz", b"zzzz", b"zz"]
    assert path not in _open_files_of_this_process()

    # A download the browser abandons: closed after one chunk, or before any.
    abandoned = await storage.open_stream(key, chunk_bytes=4)
    assert await anext(abandoned) == b"zzzz"
    await abandoned.aclose()
    never_read = await storage.open_stream(key)
    await never_read.aclose()
    async with await storage.open_stream(key) as left_in_a_block:
        assert await anext(left_in_a_block) == b"z" * 10
    assert path not in _open_files_of_this_process()
    with pytest.raises(StopAsyncIteration):
        await anext(abandoned)


def test_exports_are_zip_files() -> None:
    assert content_type_of(_key("export", "zip")) == "application/zip"
    assert is_valid_key(_key("export", "zip"))


def test_url_is_the_media_path_of_the_key(tmp_path: Path) -> None:
    key = _key()

    assert LocalStorage(tmp_path).url(key) == f"/media/{key}"
    assert LocalStorage(tmp_path, url_prefix="https://cdn.example/m/").url(key) == (
        f"https://cdn.example/m/{key}"
    )


def test_new_stems_are_unique_and_shaped_like_keys() -> None:
    stems = [new_stem() for _ in range(2000)]

    assert len(set(stems)) == len(stems)
    for stem in stems:
        found = STEM_SHAPE.fullmatch(stem)
        assert found, stem
        first, second, token = found.groups()
        assert (first, second) == (token[:2], token[2:4])
        assert is_valid_key(f"{stem}.jpg")
        assert is_valid_key(f"{stem}_original.webp")
    # 128 random bits: the shard folders spread (not all in one).
    assert len({stem[:5] for stem in stems}) > 1000


@pytest.mark.parametrize(
    "key",
    [
        "3f/a2/" + "3fa2" + "0" * 28 + ".jpg",
        "3f/a2/" + "3fa2" + "0" * 28 + "_display.jpg",
        "00/ff/" + "9" * 32 + "_thumb.webp",
    ],
)
def test_valid_keys(key: str) -> None:
    assert is_valid_key(key)


def test_make_storage_gives_a_local_storage_on_the_folder(tmp_path: Path) -> None:
    storage = make_storage(Settings(instance_dir=tmp_path, media_dir=tmp_path / "media"))

    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path / "media"
    assert storage.url("ab/cd/" + "0" * 32 + "_thumb.jpg").startswith("/media/ab/cd/")
    assert storage.media_origin is None


def test_a_media_url_serves_the_folder_from_elsewhere(tmp_path: Path) -> None:
    """A CDN (or nginx on another name) in front of the folder: pages link there."""
    storage = make_storage(
        Settings(instance_dir=tmp_path, media_url="https://cdn.example.com/media/")
    )
    key = "ab/cd/" + "0" * 32 + "_thumb.jpg"

    assert storage.url(key) == f"https://cdn.example.com/media/{key}"
    assert storage.media_origin == "https://cdn.example.com"


def test_make_storage_gives_an_s3_storage_for_an_s3_url(tmp_path: Path) -> None:
    storage = make_storage(
        Settings(instance_dir=tmp_path, storage_url="s3://photos/site-a", s3_region="eu-west-1")
    )

    assert isinstance(storage, S3Storage)
    assert storage.location == S3Location("photos", "site-a/")
    assert storage.options.region == "eu-west-1"


@pytest.mark.parametrize("url", ["photos", "https://photos/x", "s3://", "s3://photos/x?y=1"])
def test_a_storage_url_that_is_not_s3_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValueError, match="s3://"):
        make_storage(Settings(instance_dir=tmp_path, storage_url=url))


def test_make_export_storage_gives_a_folder_outside_the_media(tmp_path: Path) -> None:
    """Exports are private: never in the media folder that nginx serves to anyone."""
    settings = Settings(instance_dir=tmp_path, media_dir=tmp_path / "media")

    exports = make_export_storage(settings)

    assert isinstance(exports, LocalStorage)
    assert exports.root == tmp_path / "exports"
    assert not exports.root.is_relative_to(tmp_path / "media")


def test_make_export_storage_gives_the_exports_prefix_of_the_bucket(tmp_path: Path) -> None:
    settings = Settings(
        instance_dir=tmp_path, storage_url="s3://photos/site-a", s3_region="eu-west-1"
    )

    exports = make_export_storage(settings)

    assert isinstance(exports, S3Storage)
    assert exports.location == S3Location("photos", "site-a/exports/")
    media = make_storage(settings)
    assert isinstance(media, S3Storage)
    assert exports.options == media.options
    unprefixed = make_export_storage(Settings(instance_dir=tmp_path, storage_url="s3://photos"))
    assert isinstance(unprefixed, S3Storage)
    assert unprefixed.location == S3Location("photos", "exports/")


async def test_abort_unfinished_uploads_removes_what_a_killed_stream_left(
    tmp_path: Path,
) -> None:
    storage = _storage(tmp_path)
    key = _key("export", "zip")
    neighbour = _key("display", "jpg")
    await storage.put(neighbour, b"another file in the same folder")
    # What a writer killed mid-stream leaves: its temporary file, twice over.
    folder = (storage.root / key).parent
    folder.mkdir(parents=True, exist_ok=True)
    for token in ("0badc0de", "deadbeef"):
        (folder / f".{Path(key).name}.{token}.tmp").write_bytes(b"PK half")

    assert await storage.abort_unfinished_uploads(key) == 2
    assert _leftover_temporaries(tmp_path) == []
    assert await storage.open(neighbour) == b"another file in the same folder"
    assert await storage.abort_unfinished_uploads(key) == 0

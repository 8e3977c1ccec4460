"""`gallery forge` and `gallery import`, run as a user would run them (a real subprocess)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sqlalchemy import func, select

from gallery.infra.runtime import Runtime
from gallery.models import Comment, Follow, Image, Like, User
from gallery.settings import Settings
from tests.helpers import add_user_row, make_active_user
from tests.images import stored_files
from tests.test_cli import gallery, gallery_env

SAMPLES = Path("/work/shared/images")


async def count(runtime: Runtime, model: type[object]) -> int:
    async with runtime.db.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def assert_files_exist(runtime: Runtime, images: list[Image]) -> None:
    stored = set(await stored_files(runtime))
    for image in images:
        for key in image.storage_keys:
            assert key in stored, key


async def test_forge_command(runtime: Runtime, settings: Settings) -> None:
    result = await asyncio.to_thread(
        gallery,
        "forge",
        "--users",
        "2",
        "--images",
        "3",
        "--comments",
        "2",
        "--likes",
        "4",
        "--follows",
        "9",
        "--seed",
        "4",
        env=gallery_env(settings),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Forging images" in result.stdout and "Forging comments" in result.stdout
    assert "Forged users sign in with password gallery-forge" in lines
    # Two users can follow each other only twice, whatever was asked.
    assert lines[-1].startswith("Forged 2 users, 3 images, 2 comments, 4 likes, 2 follows in ")

    async with runtime.db.session() as session:
        users = list(await session.scalars(select(User)))
        images = list(await session.scalars(select(Image)))
    assert len(users) == 2 and all(user.is_active for user in users)
    assert any(line == f"Users: {users[0].username}, {users[1].username}" for line in lines)
    assert len(images) == 3
    assert {image.author_id for image in images} <= {user.id for user in users}
    assert sum(image.comment_count for image in images) == 2
    assert await count(runtime, Comment) == 2
    assert sum(image.like_count for image in images) == 4
    assert await count(runtime, Like) == 4
    assert await count(runtime, Follow) == 2
    await assert_files_exist(runtime, images)


async def test_forge_command_refuses_a_short_password(settings: Settings) -> None:
    result = await asyncio.to_thread(
        gallery, "forge", "--password", "short", env=gallery_env(settings)
    )
    assert result.returncode == 2
    assert "at least 8 characters" in result.stderr


def make_import_folder(root: Path) -> Path:
    folder = root / "photos"
    (folder / "nested" / "deeper").mkdir(parents=True)
    (folder / ".cache").mkdir()
    shutil.copy(SAMPLES / "hopper.jpg", folder / "hopper.jpg")
    shutil.copy(SAMPLES / "hopper.png", folder / "nested" / "hopper.png")
    shutil.copy(SAMPLES / "flower.webp", folder / "nested" / "deeper" / "flower.webp")
    shutil.copy(SAMPLES / "broken.png", folder / "broken.png")
    shutil.copy(SAMPLES / "truncated_jpeg.jpg", folder / "nested" / "cut.jpg")
    (folder / "fake.jpg").write_text("not a picture at all\n")
    with (folder / "big.jpg").open("wb") as big:  # sparse: never read whole
        big.truncate(3 * 1024 * 1024 // 2)
    # Left out: hidden files and folders. Skipped with a reason: a link leaving the folder.
    shutil.copy(SAMPLES / "hopper.jpg", folder / ".hidden.jpg")
    shutil.copy(SAMPLES / "hopper.jpg", folder / ".cache" / "hopper.jpg")
    (folder / "outside.jpg").symlink_to(SAMPLES / "hopper.jpg")
    # Left out: a link to a file inside, which is imported (once) where it really is.
    (folder / "nested" / "again.jpg").symlink_to(folder / "hopper.jpg")
    return folder


async def test_import_command(runtime: Runtime, settings: Settings, tmp_path: Path) -> None:
    user_id = await make_active_user(runtime, "importer", "importer@example.com")
    folder = make_import_folder(tmp_path)

    result = await asyncio.to_thread(
        gallery,
        "import",
        str(folder),
        "--user",
        "Importer",
        "--description",
        "From the archive #old",
        env=gallery_env(settings, GALLERY_MAX_UPLOAD_MB="1"),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("Imported 3 of 8 files; skipped 5:")
    assert lines[start + 1 :] == [
        "  big.jpg: larger than the upload limit of 1.0 MB (1.5 MB)",
        "  broken.png: This file is not an image we accept: upload a JPEG, PNG, GIF, WebP, "
        "HEIC or AVIF picture.",
        "  fake.jpg: This file is not an image we accept: upload a JPEG, PNG, GIF, WebP, "
        "HEIC or AVIF picture.",
        "  nested/cut.jpg: The image file is damaged or incomplete (was the upload cut off?). "
        "Please try another copy.",
        "  outside.jpg: a link to outside the folder",
    ]

    async with runtime.db.session() as session:
        images = list(await session.scalars(select(Image).order_by(Image.id)))
    assert len(images) == 3
    assert {image.author_id for image in images} == {user_id}
    assert {image.description for image in images} == {"From the archive #old"}
    # In name order: hopper.jpg, nested/deeper/flower.webp, nested/hopper.png.
    assert [(image.cover.width, image.cover.height) for image in images] == [
        (128, 128),
        (480, 360),
        (128, 128),
    ]
    await assert_files_exist(runtime, images)


async def test_import_command_usage_errors(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    env = gallery_env(settings)
    (tmp_path / "one.png").write_bytes((SAMPLES / "hopper.png").read_bytes())

    unknown = await asyncio.to_thread(gallery, "import", str(tmp_path), "--user", "nobody", env=env)
    assert unknown.returncode == 2
    assert "Invalid value for '--user': there is no user called 'nobody'." in unknown.stderr

    await make_active_user(runtime, "importer", "importer@example.com")
    empty = tmp_path / "empty"
    (empty / ".hidden").mkdir(parents=True)
    nothing = await asyncio.to_thread(gallery, "import", str(empty), "--user", "importer", env=env)
    assert nothing.returncode == 1
    assert "There are no files to import under" in nothing.stderr
    assert await count(runtime, Image) == 0


async def test_import_command_names_accounts_that_may_not_upload(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    env = gallery_env(settings)
    (tmp_path / "one.png").write_bytes((SAMPLES / "hopper.png").read_bytes())
    await add_user_row(runtime, "Waiting", active=False)
    await add_user_row(runtime, "Locked", locked=True)

    waiting = await asyncio.to_thread(
        gallery, "import", str(tmp_path), "--user", "waiting", env=env
    )
    assert waiting.returncode == 2
    assert "Waiting has not activated their account." in waiting.stderr
    locked = await asyncio.to_thread(gallery, "import", str(tmp_path), "--user", "locked", env=env)
    assert locked.returncode == 2
    assert "Locked may not upload images." in locked.stderr
    assert await count(runtime, Image) == 0

"""``gallery storage check | sweep | migrate``, run as an operator runs them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gallery.infra.runtime import Runtime
from gallery.infra.s3_storage import S3Storage
from gallery.infra.storage import LocalStorage
from gallery.settings import Settings
from tests.helpers import make_active_user
from tests.images import DEFAULT_PHOTO_FILES, list_stored_keys, store_image, stored_files
from tests.s3_server import S3Server, bucket_env, started_storage
from tests.services.test_storage import crash_mid_upload, ledger
from tests.test_cli import gallery, gallery_env


@pytest.fixture
async def bucket_storage(any_s3_server: S3Server, s3_bucket: str) -> AsyncIterator[S3Storage]:
    """The test bucket's ``photos/`` prefix, as ``bucket_env`` names it."""
    async with started_storage(any_s3_server, s3_bucket, "photos") as store:
        yield store


async def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    done = await asyncio.to_thread(gallery, *args, env=env)
    return done.returncode, done.stdout + done.stderr


async def test_check_passes_on_the_folder(settings: Settings, clean: None) -> None:
    folder = settings.model_copy(update={"storage_url": None})
    code, output = await run("storage", "check", env=gallery_env(folder))

    assert code == 0, output
    assert "The storage works." in output
    assert "serve it to browsers: the site serves it at /media/" in output


async def test_check_passes_on_a_bucket_and_names_what_is_wrong(
    settings: Settings, clean: None, any_s3_server: S3Server, s3_bucket: str
) -> None:
    env = gallery_env(settings)
    code, output = await run("storage", "check", env=env | bucket_env(any_s3_server, s3_bucket))
    assert code == 0, output
    assert f"Checking s3://{s3_bucket}/photos/ at {any_s3_server.endpoint_url}" in output
    assert "ok   serve it to browsers" in output

    wrong_secret = bucket_env(any_s3_server, s3_bucket) | {"GALLERY_S3_SECRET_ACCESS_KEY": "0" * 40}
    code, output = await run("storage", "check", env=env | wrong_secret)
    assert code == 1
    assert "FAIL reach the bucket: the secret key does not match the access key" in output

    not_s3 = {"GALLERY_STORAGE_URL": "https://example.com/photos"}
    code, output = await run("storage", "check", env=env | not_s3)
    assert code == 1
    assert "must be s3://bucket or s3://bucket/prefix" in output


async def test_sweep_lists_then_removes_what_a_crash_left(
    runtime: Runtime, settings: Settings
) -> None:
    keys = await crash_mid_upload(runtime)
    env = gallery_env(settings)

    code, output = await run("storage", "sweep", "--dry-run", env=env)
    assert code == 0, output
    assert "Would remove 0 orphaned files." in output  # still within the hour's grace
    assert "3 recent records left alone" in output

    code, output = await run("storage", "sweep", "--dry-run", "--grace", "0", env=env)
    assert code == 0, output
    assert "Would remove 3 orphaned files." in output
    assert all(f"  {key}" in output for key in keys)
    assert await stored_files(runtime) == sorted(keys)

    code, output = await run("storage", "sweep", "--grace", "0", env=env)
    assert code == 0, output
    assert "Removed 3 orphaned files." in output
    assert await stored_files(runtime) == []
    assert await ledger(runtime) == []


async def test_migrate_copies_the_folder_to_a_bucket_and_resumes(
    runtime: Runtime,
    settings: Settings,
    any_s3_server: S3Server,
    s3_bucket: str,
    bucket_storage: S3Storage,
) -> None:
    # A site on the folder (whatever this pass stores in).
    folder_settings = settings.model_copy(update={"storage_url": None})
    site = Runtime.from_settings(folder_settings)
    folder = site.storage
    assert isinstance(folder, LocalStorage)
    await site.start(run_worker=False)
    try:
        user_id = await make_active_user(site)
        await store_image(site, user_id)
        await store_image(site, user_id)
    finally:
        await site.stop()
    keys = await list_stored_keys(folder)
    assert len(keys) == 2 * DEFAULT_PHOTO_FILES
    env = gallery_env(folder_settings)
    destination = f"s3://{s3_bucket}/photos"
    s3_env = bucket_env(any_s3_server, s3_bucket)
    del s3_env["GALLERY_STORAGE_URL"]

    code, output = await run("storage", "migrate", "--to", destination, env=env | s3_env)
    assert code == 0, output
    assert f"Copied {len(keys)} files; 0 already in the bucket." in output
    assert f"Done: set GALLERY_STORAGE_URL={destination}" in output
    assert await list_stored_keys(bucket_storage) == keys
    for key in keys:
        assert await bucket_storage.open(key) == await folder.open(key)

    # Interrupted runs resume: what arrived whole is not copied again.
    await bucket_storage.delete(keys[0])
    await bucket_storage.put(keys[1], b"cut short")
    code, output = await run("storage", "migrate", "--to", destination, env=env | s3_env)
    assert code == 0, output
    assert f"Copied 2 files; {len(keys) - 2} already in the bucket." in output
    assert await bucket_storage.open(keys[1]) == await folder.open(keys[1])

    # A file the rows name but the folder lost is reported, not invented.
    await folder.delete(keys[2])
    code, output = await run("storage", "migrate", "--to", destination, env=env | s3_env)
    assert code == 0, output
    assert "1 file missing in the folder (not copied):" in output
    assert f"  {keys[2]}" in output

    # It copies from the folder only: with a bucket configured it says what to do.
    code, output = await run(
        "storage", "migrate", "--to", destination, env=env | bucket_env(any_s3_server, s3_bucket)
    )
    assert code == 1
    assert "GALLERY_STORAGE_URL is set: migrate copies from the folder" in output

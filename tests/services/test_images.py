"""The upload service: all or nothing, and deletion leaves no files."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gallery.infra.runtime import Runtime
from gallery.models import Image, Permission, Role, User
from gallery.services import images
from gallery.services.errors import PermissionDenied, Rejected
from tests.helpers import make_active_user
from tests.images import jpeg_bytes, shared_image, store_image, stored_files


async def image_rows(runtime: Runtime) -> int:
    async with runtime.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Image)) or 0)


async def test_a_failed_commit_removes_the_files_already_written(runtime: Runtime) -> None:
    # An author row that does not exist: the files are written, then the
    # insert fails on its foreign key.
    ghost = User(id=424242, username="ghost", is_active=True, permissions=int(Role.USER))
    async with runtime.db.session() as session:
        with pytest.raises(IntegrityError):
            await images.ingest(
                session, runtime.storage, runtime.redis, author=ghost, data=jpeg_bytes()
            )
    assert stored_files(runtime) == []
    assert await image_rows(runtime) == 0


async def test_a_refused_file_writes_nothing(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    async with runtime.db.session() as session:
        author = await session.get(User, user_id)
        assert author is not None
        with pytest.raises(Rejected) as refused:
            await images.ingest(
                session, runtime.storage, runtime.redis, author=author,
                data=shared_image("truncated_image.png"),
            )  # fmt: skip
    assert refused.value.status == 422
    assert stored_files(runtime) == []
    assert await image_rows(runtime) == 0


async def test_inactive_or_unpermitted_authors_cannot_upload(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    async with runtime.db.session() as session:
        author = await session.get(User, user_id)
        assert author is not None
        author.is_active = False
        with pytest.raises(PermissionDenied):
            await images.ingest(session, runtime.storage, None, author=author, data=jpeg_bytes())
        author.is_active = True
        author.permissions = int(Role.USER) & ~int(Permission.UPLOAD)
        with pytest.raises(PermissionDenied):
            await images.ingest(session, runtime.storage, None, author=author, data=jpeg_bytes())
    assert stored_files(runtime) == []


async def test_deleting_survives_a_file_already_gone(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    image_id = await store_image(runtime, user_id)
    stored_files(runtime)[0].unlink()
    async with runtime.db.session() as session:
        actor = await session.get(User, user_id)
        assert actor is not None
        await images.delete_image(
            session, runtime.storage, runtime.redis, image_id=image_id, actor=actor
        )
    assert stored_files(runtime) == []
    assert await image_rows(runtime) == 0

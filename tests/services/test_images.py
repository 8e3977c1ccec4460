"""The image service: uploads all or nothing, deletion leaves no files (nor likes,
comments, notices), who may delete and switch comments, and what the log keeps."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import pytest
from sqlalchemy.exc import IntegrityError

from gallery.infra.runtime import Runtime
from gallery.models import (
    Comment,
    Image,
    Like,
    ModerationAction,
    Notification,
    Permission,
    Photo,
    Role,
    User,
)
from gallery.services import comments, images
from gallery.services.comments import COMMENTS_OFF_MESSAGE
from gallery.services.errors import InvalidInput, NotFoundError, PermissionDenied, Rejected
from gallery.services.permissions import AccountLocked
from tests.helpers import (
    add_comment,
    add_like,
    add_numbered_user_rows,
    add_user_row,
    count_rows,
    delete_image,
    list_comments_on,
    lock_account,
    make_active_user,
    moderation_entries,
    switch_comments,
    unread_count_of,
)
from tests.images import (
    DEFAULT_PHOTO_FILES,
    add_image_rows,
    files_per_photo,
    jpeg_bytes,
    shared_image,
    store_image,
    stored_files,
)

# -- uploading -----------------------------------------------------------------


async def test_a_failed_commit_removes_the_files_already_written(runtime: Runtime) -> None:
    # An author row that does not exist: the files are written, then the
    # insert fails on its foreign key.
    ghost = User(id=424242, username="ghost", is_active=True, permissions=int(Role.USER))
    async with runtime.db.session() as session:
        with pytest.raises(IntegrityError):
            await images.ingest(
                session, runtime.storage, runtime.redis, author=ghost, data=jpeg_bytes()
            )
    assert await stored_files(runtime) == []
    assert await count_rows(runtime, Image) == 0


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
    assert await stored_files(runtime) == []
    assert await count_rows(runtime, Image) == 0


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
    assert await stored_files(runtime) == []


# -- posts of several photos ------------------------------------------------------


async def post_photos(runtime: Runtime, user_id: int, *uploads: images.PhotoUpload) -> Image:
    async with runtime.db.session() as session:
        return await images.create_post(
            session,
            runtime.storage,
            runtime.redis,
            author=await session.get_one(User, user_id),
            photos=list(uploads),
            description="Three in a row #trip",
        )


async def test_a_post_keeps_its_photos_in_order_with_their_alt_texts(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    sizes = [(300, 200), (200, 300), (250, 250)]
    post = await post_photos(
        runtime,
        user_id,
        *(images.PhotoUpload(jpeg_bytes(w, h), f"photo {n}") for n, (w, h) in enumerate(sizes)),
    )
    async with runtime.db.session() as session:
        stored = await session.get_one(Image, post.id)
        assert [(p.position, p.width, p.height, p.alt_text) for p in stored.photos] == [
            (0, 300, 200, "photo 0"),
            (1, 200, 300, "photo 1"),
            (2, 250, 250, "photo 2"),
        ]
        assert stored.cover.id == stored.photos[0].id
    # Three files per photo, each under a name of its own.
    assert sorted(await stored_files(runtime)) == sorted(stored.storage_keys)
    assert len(set(stored.storage_keys)) == sum(files_per_photo(w) for w, _ in sizes)


async def test_one_bad_photo_refuses_the_post_and_names_it(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    with pytest.raises(images.PhotosRejected) as refused:
        await post_photos(
            runtime,
            user_id,
            images.PhotoUpload(jpeg_bytes()),
            images.PhotoUpload(b"<html>not a photo</html>"),
            images.PhotoUpload(shared_image("truncated_image.png")),
        )
    assert sorted(refused.value.failures) == [1, 2]
    assert refused.value.status == 415
    assert refused.value.message.startswith("Photo 2: ")
    assert "Photo 3: " in refused.value.message
    assert await stored_files(runtime) == []
    assert await count_rows(runtime, Image) == 0


@pytest.mark.parametrize(
    ("uploads", "message"),
    [
        ([], "Choose at least one photo."),
        ([images.PhotoUpload(b"x")] * 11, "A post has at most 10 photos; choose fewer."),
        (
            [images.PhotoUpload(b"x", "a" * 1501)],
            "The alt text is too long: at most 1500 characters.",
        ),
    ],
)
async def test_posts_of_no_photo_too_many_or_too_long_alt_texts_are_refused(
    runtime: Runtime, uploads: list[images.PhotoUpload], message: str
) -> None:
    user_id = await make_active_user(runtime)
    with pytest.raises(InvalidInput) as refused:
        await post_photos(runtime, user_id, *uploads)
    assert refused.value.message == message
    assert await count_rows(runtime, Image) == 0


async def test_deleting_a_post_removes_every_photos_files(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    post = await post_photos(
        runtime, user_id, images.PhotoUpload(jpeg_bytes()), images.PhotoUpload(jpeg_bytes())
    )
    assert len(await stored_files(runtime)) == 2 * DEFAULT_PHOTO_FILES
    await delete_image(runtime, user_id, post.id)
    assert await stored_files(runtime) == []
    assert await count_rows(runtime, Photo) == 0


# -- deleting ------------------------------------------------------------------


async def test_deleting_survives_a_file_already_gone(runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    image_id = await store_image(runtime, user_id)
    await runtime.storage.delete((await stored_files(runtime))[0])
    async with runtime.db.session() as session:
        actor = await session.get(User, user_id)
        assert actor is not None
        await images.delete_image(
            session, runtime.storage, runtime.redis, image_id=image_id, actor=actor
        )
    assert await stored_files(runtime) == []
    assert await count_rows(runtime, Image) == 0


async def test_deleting_an_image_removes_its_likes_and_notices(runtime: Runtime) -> None:
    owner, fan = await add_numbered_user_rows(runtime, 2)
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await add_like(runtime, fan, image_id)
    async with runtime.db.session() as session:
        await comments.add_comment(
            session,
            runtime.redis,
            image_id=image_id,
            author=await session.get_one(User, fan),
            content="nice",
        )
    assert await unread_count_of(runtime, owner) == 2

    async with runtime.db.session() as session:
        await images.delete_image(
            session,
            runtime.storage,
            runtime.redis,
            image_id=image_id,
            actor=await session.get_one(User, owner),
        )
    assert await count_rows(runtime, Like) == 0
    assert await count_rows(runtime, Comment) == 0
    assert await count_rows(runtime, Notification) == 0
    assert await unread_count_of(runtime, owner) == 0


async def test_an_owner_deleting_their_image_is_not_logged_but_a_moderator_is(
    runtime: Runtime,
) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    alice = await add_user_row(runtime, "alice")
    bob = await add_user_row(runtime, "bob")
    own, other = await add_image_rows(runtime, alice, 2)

    with pytest.raises(PermissionDenied):
        await delete_image(runtime, bob, own)
    await delete_image(runtime, alice, own)
    assert await moderation_entries(runtime) == []

    await delete_image(runtime, mod, other, reason="  off-topic ")
    assert await count_rows(runtime, Image) == 0
    (entry,) = await moderation_entries(runtime)
    assert (entry.actor_id, entry.action, entry.target, entry.subject_id, entry.reason) == (
        mod,
        ModerationAction.DELETE_IMAGE,
        f"image {other}",
        alice,
        "off-topic",
    )
    assert entry.summary == "Photo by alice: “row 1”"


async def test_a_moderator_deleting_their_own_image_is_not_logged(runtime: Runtime) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    (image_id,) = await add_image_rows(runtime, mod, 1)
    await delete_image(runtime, mod, image_id)
    assert await moderation_entries(runtime) == []


# -- turning comments off and on -----------------------------------------------


async def test_owners_and_moderators_switch_comments_off_and_on(runtime: Runtime) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    owner = await add_user_row(runtime, "owner")
    bob = await add_user_row(runtime, "bob")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    earlier = await add_comment(runtime, bob, image_id, "first!")

    with pytest.raises(PermissionDenied):
        await switch_comments(runtime, bob, image_id, False)
    image = await switch_comments(runtime, owner, image_id, False)
    assert image.comments_disabled
    assert await moderation_entries(runtime) == []  # the owner's own photo

    for author in (bob, owner, mod):
        with pytest.raises(PermissionDenied) as refused:
            await add_comment(runtime, author, image_id, "more")
        assert refused.value.message == COMMENTS_OFF_MESSAGE
    assert [c.id for c in (await list_comments_on(runtime, image_id))] == [earlier]
    async with runtime.db.session() as session:
        assert (await session.get_one(Image, image_id)).comment_count == 1

    # Switching to the state it is in changes and logs nothing.
    await switch_comments(runtime, mod, image_id, False)
    assert await moderation_entries(runtime) == []

    await switch_comments(runtime, mod, image_id, True)
    (entry,) = await moderation_entries(runtime)
    assert (entry.actor_id, entry.action, entry.target, entry.subject_id) == (
        mod,
        ModerationAction.ENABLE_COMMENTS,
        f"image {image_id}",
        owner,
    )
    await add_comment(runtime, bob, image_id, "back again")
    assert len(await list_comments_on(runtime, image_id)) == 2

    await switch_comments(runtime, mod, image_id, False)
    assert (await moderation_entries(runtime))[-1].action == ModerationAction.DISABLE_COMMENTS
    with pytest.raises(NotFoundError):
        await switch_comments(runtime, owner, 999_999, True)


async def test_a_locked_owner_may_close_their_photo_to_comments_but_not_open_it(
    runtime: Runtime,
) -> None:
    # Closing is a take-down like deleting (allowed while locked, see
    # images.may_change_image); opening is a change like any other, refused.
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    owner = await add_user_row(runtime, "owner")
    (image_id,) = await add_image_rows(runtime, owner, 1)
    await lock_account(runtime, mod, owner)

    assert (await switch_comments(runtime, owner, image_id, False)).comments_disabled
    with pytest.raises(AccountLocked):
        await switch_comments(runtime, owner, image_id, True)
    async with runtime.db.session() as session:
        assert (await session.get_one(Image, image_id)).comments_disabled


async def test_an_imaging_process_killed_is_replaced_and_the_upload_goes_through(
    runtime: Runtime,
) -> None:
    user_id = await make_active_user(runtime)
    await store_image(runtime, user_id)  # the imaging process is up
    pool = images.imaging_pool()
    pids = list(pool._processes)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    # The pool notices the death on its next use: the upload is retried in a new one.
    image_id = await store_image(runtime, user_id, "after the crash")
    assert image_id
    assert images.imaging_pool() is not pool


async def test_the_imaging_process_exits_when_its_web_process_is_killed() -> None:
    """SIGKILL a process that has an imaging process: that one must not linger."""
    script = (
        "from gallery.services import images; from gallery import imaging\n"
        "pool = images.imaging_pool()\n"
        "pool.submit(imaging.responsive_widths, 640).result()\n"
        "print(*pool._processes, flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    web = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    assert web.stdout is not None
    line = await asyncio.wait_for(web.stdout.readline(), timeout=60)
    [child] = [int(pid) for pid in line.split()]
    web.kill()
    await web.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    pytest.fail(f"the imaging process {child} outlived its web process")

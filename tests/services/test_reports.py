"""Reports on images and comments, the moderators' queue, and what they do with it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import (
    Comment,
    Image,
    Like,
    ModerationAction,
    Notification,
    Report,
    ReportResolution,
    Role,
    User,
)
from gallery.models.base import utcnow
from gallery.services import images, reports, social
from gallery.services.errors import Conflict, InvalidInput, NotFoundError, PermissionDenied
from gallery.services.reports import ReportTarget
from tests.helpers import (
    add_comment,
    add_user_rows,
    count_rows,
    counted_statements,
    fetch_user,
    file_report,
    moderation_entries,
)
from tests.images import add_image_rows, files_per_photo, jpeg_bytes, stored_files

IMAGE = ReportTarget.IMAGE
COMMENT = ReportTarget.COMMENT


async def open_reports(runtime: Runtime) -> int:
    return await count_rows(runtime, Report, Report.open_key.is_not(None))


async def queue(runtime: Runtime, page: int = 1, per_page: int = 20) -> reports.QueuePage:
    async with runtime.db.session() as session:
        return await reports.queue(session, page=page, per_page=per_page)


async def dismiss(
    runtime: Runtime, actor_id: int, kind: ReportTarget, target_id: int, reason: str = ""
) -> int:
    async with runtime.db.session() as session:
        return await reports.dismiss(
            session,
            actor=await session.get_one(User, actor_id),
            kind=kind,
            target_id=target_id,
            reason=reason,
        )


async def delete_reported(
    runtime: Runtime, actor_id: int, kind: ReportTarget, target_id: int, reason: str = ""
) -> None:
    async with runtime.db.session() as session:
        await reports.delete_reported(
            session,
            runtime.storage,
            runtime.redis,
            actor=await session.get_one(User, actor_id),
            kind=kind,
            target_id=target_id,
            reason=reason,
        )


async def lock_author(
    runtime: Runtime, actor_id: int, kind: ReportTarget, target_id: int, reason: str = ""
) -> User:
    async with runtime.db.session() as session:
        return await reports.lock_author(
            session,
            actor=await session.get_one(User, actor_id),
            kind=kind,
            target_id=target_id,
            reason=reason,
        )


# -- filing reports --------------------------------------------------------------


async def test_reports_on_images_and_comments_keep_their_reason(runtime: Runtime) -> None:
    alice, bob = await add_user_rows(runtime, "alice", "bob")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    comment_id = await add_comment(runtime, alice, image_id)

    on_image = await file_report(runtime, bob, IMAGE, image_id, reason="  not a photo \n")
    on_comment = await file_report(runtime, bob, COMMENT, comment_id, reason="rude")

    assert (on_image.image_id, on_image.comment_id) == (image_id, None)
    assert (on_comment.image_id, on_comment.comment_id) == (None, comment_id)
    assert on_image.reason == "not a photo"
    assert on_comment.reason == "rude"
    for filed in (on_image, on_comment):
        assert filed.reporter_id == bob
        assert filed.open_key is not None
        assert filed.created_at is not None
        assert (filed.resolved_at, filed.resolved_by_id, filed.resolution) == (None, None, None)
    assert await count_rows(runtime, Report) == 2


async def test_a_report_needs_a_reason_of_at_most_500_characters(runtime: Runtime) -> None:
    alice, bob = await add_user_rows(runtime, "alice", "bob")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    comment_id = await add_comment(runtime, alice, image_id)
    for kind, target in ((IMAGE, image_id), (COMMENT, comment_id)):
        for reason in (None, "", "  \n ", "x" * 501):
            with pytest.raises(InvalidInput) as refused:
                await file_report(runtime, bob, kind, target, reason=reason)
            assert refused.value.field == "reason"
    assert await count_rows(runtime, Report) == 0

    assert (await file_report(runtime, bob, IMAGE, image_id, reason="é" * 500)).reason == "é" * 500


async def test_nobody_reports_their_own_content(runtime: Runtime) -> None:
    (alice,) = await add_user_rows(runtime, "alice")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    comment_id = await add_comment(runtime, alice, image_id)
    with pytest.raises(InvalidInput, match="own photo"):
        await file_report(runtime, alice, IMAGE, image_id)
    with pytest.raises(InvalidInput, match="own comment"):
        await file_report(runtime, alice, COMMENT, comment_id)
    assert await count_rows(runtime, Report) == 0


async def test_reporting_what_does_not_exist_is_not_found(runtime: Runtime) -> None:
    (bob,) = await add_user_rows(runtime, "bob")
    with pytest.raises(NotFoundError):
        await file_report(runtime, bob, IMAGE, 999_999)
    with pytest.raises(NotFoundError):
        await file_report(runtime, bob, COMMENT, 999_999)
    assert await count_rows(runtime, Report) == 0


async def test_an_inactive_account_cannot_report(runtime: Runtime) -> None:
    alice, bob = await add_user_rows(runtime, "alice", "bob")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    async with runtime.db.session() as session:
        account = await session.get_one(User, bob)
        account.is_active = False
        await session.commit()
        with pytest.raises(PermissionDenied):
            await reports.report_image(session, reporter=account, image_id=image_id, reason="x")
    assert await count_rows(runtime, Report) == 0


async def test_one_open_report_per_person_and_target(runtime: Runtime) -> None:
    alice, bob, carol, mod = await add_user_rows(runtime, "alice", "bob", "carol", "mod")
    async with runtime.db.session() as session:
        (await session.get_one(User, mod)).permissions = int(Role.MODERATOR)
        await session.commit()
    (image_id,) = await add_image_rows(runtime, alice, 1)
    comment_id = await add_comment(runtime, alice, image_id)

    for kind, target in ((IMAGE, image_id), (COMMENT, comment_id)):
        await file_report(runtime, bob, kind, target, reason="first")
        with pytest.raises(Conflict, match="already reported"):
            await file_report(runtime, bob, kind, target, reason="again")
        await file_report(runtime, carol, kind, target, reason="me too")
    assert await count_rows(runtime, Report) == 4
    assert await count_rows(runtime, Report, Report.reason == "again") == 0

    # Once a moderator has dismissed it, the same person may report it again.
    await dismiss(runtime, mod, IMAGE, image_id)
    again = await file_report(runtime, bob, IMAGE, image_id, reason="still spam")
    assert again.open_key is not None
    assert await count_rows(runtime, Report, Report.image_id == image_id) == 3
    assert (
        await count_rows(runtime, Report, Report.image_id == image_id, Report.open_key.is_not(None))
        == 1
    )
    with pytest.raises(Conflict):
        await file_report(runtime, bob, IMAGE, image_id)


async def test_concurrent_duplicate_reports_leave_one_open_report(runtime: Runtime) -> None:
    alice, bob = await add_user_rows(runtime, "alice", "bob")
    (image_id,) = await add_image_rows(runtime, alice, 1)

    outcomes = await asyncio.gather(
        *(file_report(runtime, bob, IMAGE, image_id, reason=f"tab {tab}") for tab in range(2)),
        return_exceptions=True,
    )

    assert sum(isinstance(outcome, Report) for outcome in outcomes) == 1
    assert sum(isinstance(outcome, Conflict) for outcome in outcomes) == 1
    assert await count_rows(runtime, Report) == 1
    assert await open_reports(runtime) == 1


# -- the queue -------------------------------------------------------------------


async def test_the_queue_groups_most_reported_first_then_longest_waiting(
    runtime: Runtime,
) -> None:
    alice, bob, *fans = await add_user_rows(runtime, "alice", "bob", "fan0", "fan1", "fan2")
    quiet, loud, other = await add_image_rows(runtime, alice, 3)
    on_loud = await add_comment(runtime, bob, loud, "on the loud one")

    # The oldest report is on `quiet`, but it has one report only.
    await file_report(runtime, bob, IMAGE, quiet, reason="meh")
    for index, fan in enumerate(fans):
        await file_report(runtime, fan, IMAGE, loud, reason=f"loud {index}")
    for index, fan in enumerate(fans):
        await file_report(runtime, fan, COMMENT, on_loud, reason=f"rude {index}")
    await file_report(runtime, fans[0], IMAGE, other, reason="blurry")
    # A dismissed report does not count.
    await file_report(runtime, fans[1], IMAGE, other, reason="dismissed later")
    async with runtime.db.session() as session:
        resolved = await session.scalar(select(Report).where(Report.reason == "dismissed later"))
        assert resolved is not None
        resolved.open_key = None
        resolved.resolution = ReportResolution.DISMISSED.value
        resolved.resolved_at = utcnow()
        await session.commit()

    page = await queue(runtime)
    assert not page.has_next
    assert [(group.kind, group.target_id, group.report_count) for group in page.groups] == [
        (IMAGE, loud, 3),
        (COMMENT, on_loud, 3),
        (IMAGE, quiet, 1),
        (IMAGE, other, 1),
    ]
    loud_group, comment_group, quiet_group, other_group = page.groups
    assert loud_group.image is not None and loud_group.image.id == loud
    assert loud_group.comment is None
    assert loud_group.author.username == "alice"
    assert [r.reason for r in loud_group.reports] == ["loud 0", "loud 1", "loud 2"]
    assert [r.reporter.username for r in loud_group.reports] == ["fan0", "fan1", "fan2"]
    assert comment_group.comment is not None and comment_group.comment.id == on_loud
    assert comment_group.comment.author.username == "bob"
    assert comment_group.author.username == "bob"
    assert comment_group.image is None
    assert [r.reason for r in comment_group.reports] == ["rude 0", "rude 1", "rude 2"]
    assert [r.reporter.username for r in quiet_group.reports] == ["bob"]
    assert [r.reason for r in other_group.reports] == ["blurry"]


async def test_the_queue_pages(runtime: Runtime) -> None:
    alice, bob = await add_user_rows(runtime, "alice", "bob")
    ids = await add_image_rows(runtime, alice, 5)
    for image_id in ids:
        await file_report(runtime, bob, IMAGE, image_id)

    seen: list[int] = []
    for number, expected_next in ((1, True), (2, True), (3, False)):
        page = await queue(runtime, page=number, per_page=2)
        assert page.page == number
        assert page.has_next is expected_next
        seen.extend(group.target_id for group in page.groups)
    assert seen == ids  # equal counts: the longest waiting first
    assert (await queue(runtime, page=4, per_page=2)).groups == []
    exactly = await queue(runtime, page=1, per_page=5)
    assert len(exactly.groups) == 5 and not exactly.has_next
    for bad in (0, -1, 10_001):
        with pytest.raises(InvalidInput):
            await queue(runtime, page=bad)


async def test_an_empty_queue(runtime: Runtime) -> None:
    page = await queue(runtime)
    assert page.groups == [] and not page.has_next


async def test_a_queue_page_costs_the_same_queries_whatever_it_holds(runtime: Runtime) -> None:
    alice, bob, carol = await add_user_rows(runtime, "alice", "bob", "carol")
    ids = await add_image_rows(runtime, alice, 4)
    comment_ids = [await add_comment(runtime, bob, image_id) for image_id in ids]
    await file_report(runtime, carol, IMAGE, ids[0])

    async def statements_for_queue() -> tuple[int, int]:
        async with runtime.db.session() as session:
            with counted_statements(runtime) as statements:
                page = await reports.queue(session)
                # Touch everything the page shows: nothing may load lazily.
                for group in page.groups:
                    assert group.author.username
                    if group.image is not None:
                        assert group.image.author.username
                    if group.comment is not None:
                        assert group.comment.author.username
                    for filed in group.reports:
                        assert filed.reporter.username
        return len(page.groups), len(statements)

    one_group, few = await statements_for_queue()
    for image_id in ids[1:]:
        await file_report(runtime, carol, IMAGE, image_id)
    for comment_id in comment_ids:
        await file_report(runtime, carol, COMMENT, comment_id)
        await file_report(runtime, alice, COMMENT, comment_id)
    many_groups, many = await statements_for_queue()

    assert (one_group, many_groups) == (1, 8)
    assert few == many
    assert many <= 5  # one more than before posts: the reported posts' photos


# -- dismissing ------------------------------------------------------------------


async def test_dismissing_closes_every_open_report_on_the_target_and_logs_once(
    runtime: Runtime,
) -> None:
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    alice, bob, carol = await add_user_rows(runtime, "alice", "bob", "carol")
    image_id, untouched = await add_image_rows(runtime, alice, 2)
    comment_id = await add_comment(runtime, alice, image_id)
    await file_report(runtime, bob, IMAGE, image_id, reason="ugly")
    await file_report(runtime, carol, IMAGE, image_id, reason="boring")
    await file_report(runtime, bob, COMMENT, comment_id, reason="rude")
    await file_report(runtime, bob, IMAGE, untouched, reason="other")

    assert await dismiss(runtime, mod, IMAGE, image_id, reason="  it is fine ") == 2

    async with runtime.db.session() as session:
        closed = list(await session.scalars(select(Report).where(Report.image_id == image_id)))
    assert len(closed) == 2
    for filed in closed:
        assert filed.open_key is None
        assert filed.resolution == ReportResolution.DISMISSED
        assert filed.resolved_by_id == mod
        assert filed.resolved_at is not None
    assert await open_reports(runtime) == 2  # the comment's and the other image's
    (entry,) = await moderation_entries(runtime)
    assert (entry.actor_id, entry.action, entry.target, entry.subject_id, entry.reason) == (
        mod,
        ModerationAction.DISMISS_REPORTS,
        f"image {image_id}",
        alice,
        "it is fine",
    )
    assert entry.summary.startswith("Photo by alice: “row 0”")
    assert "“ugly”" in entry.summary and "“boring”" in entry.summary

    with pytest.raises(NotFoundError, match="no open reports"):
        await dismiss(runtime, mod, IMAGE, image_id)
    assert len(await moderation_entries(runtime)) == 1

    assert await dismiss(runtime, mod, COMMENT, comment_id) == 1
    assert (await moderation_entries(runtime))[-1].target == f"comment {comment_id}"
    assert await open_reports(runtime) == 1


async def test_two_moderators_dismissing_at_once_close_the_reports_once(
    runtime: Runtime,
) -> None:
    first, second = await add_user_rows(runtime, "mod1", "mod2", role=Role.MODERATOR)
    alice, bob, carol = await add_user_rows(runtime, "alice", "bob", "carol")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    await file_report(runtime, bob, IMAGE, image_id)
    await file_report(runtime, carol, IMAGE, image_id)

    outcomes = await asyncio.gather(
        dismiss(runtime, first, IMAGE, image_id),
        dismiss(runtime, second, IMAGE, image_id),
        return_exceptions=True,
    )

    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["NotFoundError", "int"]
    assert 2 in outcomes
    assert len(await moderation_entries(runtime)) == 1
    assert await open_reports(runtime) == 0


async def test_plain_users_cannot_dismiss(runtime: Runtime) -> None:
    alice, bob = await add_user_rows(runtime, "alice", "bob")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    await file_report(runtime, bob, IMAGE, image_id)
    for who in (alice, bob):
        with pytest.raises(PermissionDenied):
            await dismiss(runtime, who, IMAGE, image_id)
    assert await open_reports(runtime) == 1
    assert await moderation_entries(runtime) == []


async def test_dismissing_on_something_deleted_is_not_found(runtime: Runtime) -> None:
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    with pytest.raises(NotFoundError):
        await dismiss(runtime, mod, IMAGE, 999_999)
    with pytest.raises(NotFoundError):
        await dismiss(runtime, mod, COMMENT, 999_999)


# -- deleting what was reported --------------------------------------------------


async def test_deleting_a_reported_image_removes_everything_and_the_log_remembers_it(
    runtime: Runtime,
) -> None:
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    alice, bob, carol = await add_user_rows(runtime, "alice", "bob", "carol")
    async with runtime.db.session() as session:
        image = await images.ingest(
            session,
            runtime.storage,
            runtime.redis,
            author=await session.get_one(User, alice),
            data=jpeg_bytes(64, 48),
            description="A #sunset over the sea",
        )
        image_id = image.id
        await social.like_image(
            session, runtime.redis, user=await session.get_one(User, bob), image_id=image_id
        )
    assert len(await stored_files(runtime)) == files_per_photo(64)
    (kept,) = await add_image_rows(runtime, alice, 1)
    comment_id = await add_comment(runtime, bob, image_id, "lovely")
    await file_report(runtime, bob, IMAGE, image_id, reason="stolen photo")
    await file_report(runtime, carol, IMAGE, image_id, reason="copyright")
    await file_report(runtime, carol, COMMENT, comment_id, reason="spam")
    await file_report(runtime, carol, IMAGE, kept, reason="keep me")

    await delete_reported(runtime, mod, IMAGE, image_id)

    assert await count_rows(runtime, Image, Image.id == image_id) == 0
    assert await count_rows(runtime, Comment) == 0
    assert await count_rows(runtime, Like) == 0
    assert await count_rows(runtime, Notification, Notification.image_id == image_id) == 0
    assert await count_rows(runtime, Report) == 1  # only the report on the other image
    assert await stored_files(runtime) == []
    for key in image.storage_keys:
        assert await runtime.storage.size(key) is None
    (entry,) = await moderation_entries(runtime)
    assert (entry.actor_id, entry.action, entry.target, entry.subject_id) == (
        mod,
        ModerationAction.DELETE_IMAGE,
        f"image {image_id}",
        alice,
    )
    assert entry.summary == "Photo by alice: “A #sunset over the sea”"
    assert entry.reason == "Reported photo (2×): “stolen photo”; “copyright”"

    page = await queue(runtime)
    assert [group.target_id for group in page.groups] == [kept]


async def test_a_moderators_own_reason_is_logged_instead_of_the_reports(runtime: Runtime) -> None:
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    alice, bob = await add_user_rows(runtime, "alice", "bob")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    await file_report(runtime, bob, IMAGE, image_id, reason="stolen")
    await delete_reported(runtime, mod, IMAGE, image_id, reason="confirmed theft")
    assert (await moderation_entries(runtime))[0].reason == "confirmed theft"


async def test_many_long_report_reasons_still_fit_the_log(runtime: Runtime) -> None:
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    (alice,) = await add_user_rows(runtime, "alice")
    fans = await add_user_rows(runtime, *(f"fan{index}" for index in range(7)))
    (image_id,) = await add_image_rows(runtime, alice, 1)
    for index, fan in enumerate(fans):
        await file_report(runtime, fan, IMAGE, image_id, reason=f"{index} " + "z" * 480)

    await delete_reported(runtime, mod, IMAGE, image_id)

    (entry,) = await moderation_entries(runtime)
    assert entry.reason.startswith("Reported photo (7×): “0 zzz")
    assert len(entry.reason) <= 500
    assert await count_rows(runtime, Image) == 0


async def test_deleting_a_reported_comment(runtime: Runtime) -> None:
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    alice, bob, carol = await add_user_rows(runtime, "alice", "bob", "carol")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    kept = await add_comment(runtime, carol, image_id, "kind words")
    rude = await add_comment(runtime, bob, image_id, "rude words")
    await file_report(runtime, carol, COMMENT, rude, reason="insult")
    await file_report(runtime, carol, IMAGE, image_id, reason="image too")

    await delete_reported(runtime, mod, COMMENT, rude)

    async with runtime.db.session() as session:
        remaining = list(await session.scalars(select(Comment.id)))
        assert (await session.get_one(Image, image_id)).comment_count == 1
    assert remaining == [kept]
    assert await count_rows(runtime, Report, Report.comment_id == rude) == 0
    assert await count_rows(runtime, Report, Report.image_id == image_id) == 1
    (entry,) = await moderation_entries(runtime)
    assert (entry.actor_id, entry.action, entry.target, entry.subject_id) == (
        mod,
        ModerationAction.DELETE_COMMENT,
        f"comment {rude}",
        bob,
    )
    assert entry.summary == f"Comment by bob on photo {image_id}: “rude words”"
    assert entry.reason == "Reported comment (1×): “insult”"


async def test_deleting_a_reported_comment_on_the_moderators_own_photo_is_logged(
    runtime: Runtime,
) -> None:
    # The comment is someone else's and the reports close with it: a moderator
    # action from the queue, so it belongs in the log even though the photo is
    # the moderator's own (where comments.delete_comment alone would not log).
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    bob, carol = await add_user_rows(runtime, "bob", "carol")
    (image_id,) = await add_image_rows(runtime, mod, 1)
    rude = await add_comment(runtime, bob, image_id, "rude words")
    await file_report(runtime, carol, COMMENT, rude, reason="insult")

    await delete_reported(runtime, mod, COMMENT, rude)

    assert await count_rows(runtime, Comment) == 0
    assert await count_rows(runtime, Report) == 0
    entries = await moderation_entries(runtime)
    assert [(e.action, e.subject_id, e.reason) for e in entries] == [
        (ModerationAction.DELETE_COMMENT, bob, "Reported comment (1×): “insult”")
    ]


async def test_plain_users_cannot_delete_reported_content(runtime: Runtime) -> None:
    alice, bob = await add_user_rows(runtime, "alice", "bob")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    comment_id = await add_comment(runtime, alice, image_id)
    await file_report(runtime, bob, IMAGE, image_id)
    await file_report(runtime, bob, COMMENT, comment_id)
    # Not even the owner through this door: it is the moderators' action.
    for who in (bob, alice):
        with pytest.raises(PermissionDenied):
            await delete_reported(runtime, who, IMAGE, image_id)
        with pytest.raises(PermissionDenied):
            await delete_reported(runtime, who, COMMENT, comment_id)
    assert await count_rows(runtime, Image) == 1
    assert await count_rows(runtime, Comment) == 1
    assert await open_reports(runtime) == 2


# -- locking the author ----------------------------------------------------------


async def test_locking_the_author_uses_the_reports_reasons_and_leaves_them_open(
    runtime: Runtime,
) -> None:
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    alice, bob, carol = await add_user_rows(runtime, "alice", "bob", "carol")
    (image_id,) = await add_image_rows(runtime, alice, 1)
    comment_id = await add_comment(runtime, bob, image_id, "buy pills")
    await file_report(runtime, carol, IMAGE, image_id, reason="nudity")
    await file_report(runtime, bob, IMAGE, image_id, reason="porn")
    await file_report(runtime, carol, COMMENT, comment_id, reason="spam")

    locked = await lock_author(runtime, mod, IMAGE, image_id)

    assert locked.id == alice
    stored = await fetch_user(runtime, alice)
    assert stored.is_locked
    assert stored.lock_reason == "Reported photo (2×): “nudity”; “porn”"
    assert await open_reports(runtime) == 3
    (entry,) = await moderation_entries(runtime)
    assert (entry.action, entry.subject_id, entry.reason) == (
        ModerationAction.LOCK_USER,
        alice,
        stored.lock_reason,
    )

    await lock_author(runtime, mod, COMMENT, comment_id, reason="spammer")
    assert (await fetch_user(runtime, bob)).lock_reason == "spammer"
    assert await open_reports(runtime) == 3


async def test_a_moderator_cannot_lock_an_administrators_content(runtime: Runtime) -> None:
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    (admin,) = await add_user_rows(runtime, "admin", role=Role.ADMINISTRATOR)
    (bob,) = await add_user_rows(runtime, "bob")
    (image_id,) = await add_image_rows(runtime, admin, 1)
    await file_report(runtime, bob, IMAGE, image_id, reason="rude admin")

    with pytest.raises(PermissionDenied):
        await lock_author(runtime, mod, IMAGE, image_id)
    with pytest.raises(PermissionDenied):
        await lock_author(runtime, bob, IMAGE, image_id)
    assert not (await fetch_user(runtime, admin)).is_locked
    assert await moderation_entries(runtime) == []
    assert await open_reports(runtime) == 1


async def test_locking_the_author_of_something_deleted_is_not_found(runtime: Runtime) -> None:
    (mod,) = await add_user_rows(runtime, "mod", role=Role.MODERATOR)
    with pytest.raises(NotFoundError):
        await lock_author(runtime, mod, IMAGE, 999_999, reason="gone")

"""Locking accounts, roles, activation mails, site counts, the user list and the log.

What a moderator's deletion or comment switch writes to the log is tested with
the services that write it: ``test_images.py`` and ``test_comments.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from gallery.infra.runtime import Runtime
from gallery.models import (
    Comment,
    Follow,
    Image,
    Like,
    ModerationAction,
    OutboxMessage,
    OutboxStatus,
    Permission,
    Report,
    Role,
    User,
)
from gallery.services import comments, images, moderation, reports, social
from gallery.services.errors import Conflict, InvalidInput, NotFoundError, PermissionDenied
from gallery.services.mail import Mailer
from gallery.services.moderation import UserFilter
from gallery.services.permissions import LOCKED_MESSAGE, AccountLocked
from tests.helpers import add_user_row, count_rows, fetch_user, lock_account, moderation_entries
from tests.images import add_image_rows, files_per_photo, jpeg_bytes, stored_files


async def unlock(runtime: Runtime, actor_id: int, user_id: int, reason: str | None = "") -> User:
    async with runtime.db.session() as session:
        actor = await session.get_one(User, actor_id)
        return await moderation.unlock_user(session, actor=actor, user_id=user_id, reason=reason)


async def set_role(runtime: Runtime, actor_id: int | None, user_id: int, role: str) -> User:
    async with runtime.db.session() as session:
        actor = await session.get_one(User, actor_id) if actor_id is not None else None
        return await moderation.set_role(session, actor=actor, user_id=user_id, role=role)


# -- locking ---------------------------------------------------------------------


async def test_a_moderator_locks_a_plain_user_and_the_log_says_who_what_and_why(
    runtime: Runtime,
) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    bob = await add_user_row(runtime, "bob")

    locked = await lock_account(runtime, mod, bob, reason="  posts spam  ")

    assert locked.is_locked
    stored = await fetch_user(runtime, bob)
    assert stored.locked_at is not None
    assert stored.lock_reason == "posts spam"
    assert stored.permissions == int(Role.USER)  # the role stays; the lock is separate
    (entry,) = await moderation_entries(runtime)
    assert entry.actor_id == mod
    assert entry.action == ModerationAction.LOCK_USER
    assert entry.target == "user bob"
    assert entry.subject_id == bob
    assert entry.reason == "posts spam"
    assert "bob" in entry.summary

    # Locking again only updates the reason (and logs it).
    first_locked_at = stored.locked_at
    await lock_account(runtime, mod, bob, reason="still spam")
    again = await fetch_user(runtime, bob)
    assert again.locked_at == first_locked_at
    assert again.lock_reason == "still spam"
    assert len(await moderation_entries(runtime)) == 2


async def test_a_moderator_cannot_lock_a_moderator_or_an_administrator(runtime: Runtime) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    other_mod = await add_user_row(runtime, "mod2", role=Role.MODERATOR)
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)

    for target in (other_mod, admin):
        with pytest.raises(PermissionDenied) as refused:
            await lock_account(runtime, mod, target)
        assert type(refused.value) is PermissionDenied
        assert "only an administrator" in refused.value.message
        assert not (await fetch_user(runtime, target)).is_locked
    assert await moderation_entries(runtime) == []


async def test_an_administrator_locks_moderators_and_other_administrators(
    runtime: Runtime,
) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    admin2 = await add_user_row(runtime, "admin2", role=Role.ADMINISTRATOR)

    await lock_account(runtime, admin, mod)
    await lock_account(runtime, admin, admin2)

    assert (await fetch_user(runtime, mod)).is_locked
    assert (await fetch_user(runtime, admin2)).is_locked
    assert [entry.subject_id for entry in await moderation_entries(runtime)] == [mod, admin2]


async def test_nobody_locks_themselves(runtime: Runtime) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    for who in (mod, admin):
        with pytest.raises(PermissionDenied, match="your own account"):
            await lock_account(runtime, who, who)
        assert not (await fetch_user(runtime, who)).is_locked
    assert await moderation_entries(runtime) == []


async def test_plain_users_lock_nobody(runtime: Runtime) -> None:
    alice = await add_user_row(runtime, "alice")
    bob = await add_user_row(runtime, "bob")
    with pytest.raises(PermissionDenied, match="moderate"):
        await lock_account(runtime, alice, bob)
    assert not (await fetch_user(runtime, bob)).is_locked


async def test_a_lock_needs_a_reason_of_at_most_500_characters(runtime: Runtime) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    bob = await add_user_row(runtime, "bob")
    for reason in (None, "", "   ", "x" * 501):
        with pytest.raises(InvalidInput) as refused:
            await lock_account(runtime, mod, bob, reason=reason)
        assert refused.value.field == "reason"
    assert not (await fetch_user(runtime, bob)).is_locked
    assert await moderation_entries(runtime) == []

    await lock_account(runtime, mod, bob, reason="x" * 500)
    assert (await fetch_user(runtime, bob)).lock_reason == "x" * 500


async def test_locking_a_missing_account_is_not_found(runtime: Runtime) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    with pytest.raises(NotFoundError):
        await lock_account(runtime, mod, 999_999)


async def test_unlocking_gives_the_account_back_and_is_logged(runtime: Runtime) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    bob = await add_user_row(runtime, "bob")
    with pytest.raises(InvalidInput, match="not locked"):
        await unlock(runtime, mod, bob)
    assert await moderation_entries(runtime) == []

    await lock_account(runtime, mod, bob)
    unlocked = await unlock(runtime, mod, bob, reason="apologised")

    assert not unlocked.is_locked
    stored = await fetch_user(runtime, bob)
    assert stored.locked_at is None
    assert stored.lock_reason is None
    entry = (await moderation_entries(runtime))[-1]
    assert (entry.actor_id, entry.action, entry.subject_id, entry.reason) == (
        mod,
        ModerationAction.UNLOCK_USER,
        bob,
        "apologised",
    )
    with pytest.raises(InvalidInput):
        await unlock(runtime, mod, bob)


async def test_a_moderator_cannot_unlock_a_moderator(runtime: Runtime) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    mod2 = await add_user_row(runtime, "mod2", role=Role.MODERATOR)
    await lock_account(runtime, admin, mod2)
    with pytest.raises(PermissionDenied):
        await unlock(runtime, mod, mod2)
    assert (await fetch_user(runtime, mod2)).is_locked
    await unlock(runtime, admin, mod2)
    assert not (await fetch_user(runtime, mod2)).is_locked


async def test_a_locked_moderator_cannot_moderate(runtime: Runtime) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    bob = await add_user_row(runtime, "bob")
    await lock_account(runtime, admin, mod)
    with pytest.raises(AccountLocked):
        await lock_account(runtime, mod, bob)
    assert not (await fetch_user(runtime, bob)).is_locked


async def test_a_locked_account_changes_nothing_until_it_is_unlocked(runtime: Runtime) -> None:
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    alice = await add_user_row(runtime, "alice")
    carol = await add_user_row(runtime, "carol")
    await add_user_row(runtime, "dave")
    liked, fresh = await add_image_rows(runtime, carol, 2)
    async with runtime.db.session() as session:
        account = await session.get_one(User, alice)
        await social.like_image(session, None, user=account, image_id=liked)
        await social.follow_user(session, None, follower=account, username="carol")
        carols = await session.get_one(User, carol)
        comment = await comments.add_comment(
            session, None, image_id=fresh, author=carols, content="mine"
        )
    await lock_account(runtime, mod, alice)

    def attempts(session: Any, account: User) -> dict[str, Callable[[], Awaitable[object]]]:
        return {
            "upload": lambda: images.ingest(
                session, runtime.storage, None, author=account, data=jpeg_bytes(32, 24)
            ),
            "comment": lambda: comments.add_comment(
                session, None, image_id=fresh, author=account, content="hello"
            ),
            "like": lambda: social.like_image(session, None, user=account, image_id=fresh),
            "unlike": lambda: social.unlike_image(session, None, user=account, image_id=liked),
            "follow": lambda: social.follow_user(session, None, follower=account, username="dave"),
            "unfollow": lambda: social.unfollow_user(
                session, None, follower=account, username="carol"
            ),
            "report image": lambda: reports.report_image(
                session, reporter=account, image_id=fresh, reason="ugly"
            ),
            "report comment": lambda: reports.report_comment(
                session, reporter=account, comment_id=comment.id, reason="rude"
            ),
        }

    async with runtime.db.session() as session:
        account = await session.get_one(User, alice)
        for name, attempt in attempts(session, account).items():
            with pytest.raises(AccountLocked) as refused:
                await attempt()
            assert refused.value.message == LOCKED_MESSAGE, name

    assert await count_rows(runtime, Image, Image.author_id == alice) == 0
    assert await stored_files(runtime) == []
    assert await count_rows(runtime, Comment, Comment.author_id == alice) == 0
    assert await count_rows(runtime, Like, Like.user_id == alice) == 1  # the old like stays
    assert await count_rows(runtime, Like, Like.image_id == fresh) == 0
    assert await count_rows(runtime, Follow, Follow.follower_id == alice) == 1  # still carol only
    assert await count_rows(runtime, Report) == 0

    await unlock(runtime, mod, alice)
    async with runtime.db.session() as session:
        account = await session.get_one(User, alice)
        for attempt in attempts(session, account).values():
            await attempt()
    assert await count_rows(runtime, Image, Image.author_id == alice) == 1
    assert len(await stored_files(runtime)) == files_per_photo(32)
    assert await count_rows(runtime, Comment, Comment.author_id == alice) == 1
    assert await count_rows(runtime, Like, Like.user_id == alice) == 1  # fresh liked, liked unliked
    assert await count_rows(runtime, Like, Like.image_id == fresh) == 1
    assert await count_rows(runtime, Follow, Follow.follower_id == alice) == 1  # dave, not carol
    assert await count_rows(runtime, Report, Report.reporter_id == alice) == 2


# -- roles -----------------------------------------------------------------------


async def test_an_administrator_promotes_and_demotes_with_every_change_logged(
    runtime: Runtime,
) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    bob = await add_user_row(runtime, "bob")

    steps = ["moderator", "administrator", "moderator", "user"]
    for role in steps:
        changed = await set_role(runtime, admin, bob, role)
        assert changed.role_name == role
        assert (await fetch_user(runtime, bob)).permissions == int(Role.bits_of(role))

    entries = await moderation_entries(runtime)
    assert [entry.summary for entry in entries] == [
        "Role of bob: user → moderator.",
        "Role of bob: moderator → administrator.",
        "Role of bob: administrator → moderator.",
        "Role of bob: moderator → user.",
    ]
    assert {(e.actor_id, e.action, e.subject_id, e.target) for e in entries} == {
        (admin, ModerationAction.CHANGE_ROLE, bob, "user bob")
    }

    # The role it already has: nothing changes, nothing is logged.
    await set_role(runtime, admin, bob, "user")
    assert len(await moderation_entries(runtime)) == len(steps)


async def test_a_moderator_changes_nobodys_role(runtime: Runtime) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    bob = await add_user_row(runtime, "bob")

    for target, role in ((admin, "user"), (bob, "moderator"), (mod, "administrator")):
        with pytest.raises(PermissionDenied, match="administer"):
            await set_role(runtime, mod, target, role)
    assert (await fetch_user(runtime, admin)).permissions == int(Role.ADMINISTRATOR)
    assert (await fetch_user(runtime, mod)).permissions == int(Role.MODERATOR)
    assert (await fetch_user(runtime, bob)).permissions == int(Role.USER)
    assert await moderation_entries(runtime) == []


async def test_an_unknown_role_is_invalid_input(runtime: Runtime) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    bob = await add_user_row(runtime, "bob")
    for role in ("superuser", "", "moderators"):
        with pytest.raises(InvalidInput) as refused:
            await set_role(runtime, admin, bob, role)
        assert refused.value.field == "role"
    assert (await fetch_user(runtime, bob)).permissions == int(Role.USER)
    assert await moderation_entries(runtime) == []


async def test_the_command_line_sets_roles_without_an_actor(runtime: Runtime) -> None:
    bob = await add_user_row(runtime, "bob")
    await set_role(runtime, None, bob, " Admin ")
    assert (await fetch_user(runtime, bob)).permissions == int(Role.ADMINISTRATOR)
    (entry,) = await moderation_entries(runtime)
    assert entry.actor_id is None
    assert entry.summary == "Role of bob: user → administrator."


async def test_the_last_working_administrator_cannot_be_demoted(runtime: Runtime) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    # Administrators who cannot act do not count as another one.
    await add_user_row(runtime, "asleep", role=Role.ADMINISTRATOR, active=False)
    await add_user_row(runtime, "banned", role=Role.ADMINISTRATOR, locked=True)
    carol = await add_user_row(runtime, "carol")

    for actor in (None, admin):
        with pytest.raises(Conflict, match="only working administrator"):
            await set_role(runtime, actor, admin, "moderator")
    assert (await fetch_user(runtime, admin)).permissions == int(Role.ADMINISTRATOR)
    assert await moderation_entries(runtime) == []

    await set_role(runtime, admin, carol, "admin")
    await set_role(runtime, carol, admin, "user")
    assert (await fetch_user(runtime, admin)).permissions == int(Role.USER)
    # And now carol is the last one.
    with pytest.raises(Conflict):
        await set_role(runtime, None, carol, "user")


async def test_two_administrators_demoting_each_other_at_once_leave_one(
    runtime: Runtime,
) -> None:
    # A race, so several rounds: however the two requests interleave, the site
    # must keep a working administrator.
    administer = int(Permission.ADMINISTER)
    for round_ in range(6):
        async with runtime.db.session() as session:
            await session.execute(update(User).values(permissions=int(Role.USER)))
            await session.commit()
        first = await add_user_row(runtime, f"first{round_}", role=Role.ADMINISTRATOR)
        second = await add_user_row(runtime, f"second{round_}", role=Role.ADMINISTRATOR)

        outcomes = await asyncio.gather(
            set_role(runtime, first, second, "user"),
            set_role(runtime, second, first, "user"),
            return_exceptions=True,
        )

        assert all(isinstance(o, User | Conflict) for o in outcomes), outcomes
        admins = await count_rows(runtime, User, User.permissions.op("&")(administer) == administer)
        assert admins == 1, f"round {round_}: {outcomes}"


# -- activation mails ------------------------------------------------------------


async def test_an_administrator_resends_an_activation_mail(runtime: Runtime) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    newbie = await add_user_row(runtime, "newbie", active=False)
    assert runtime.redis is not None

    async with runtime.db.session() as session:
        await moderation.resend_activation(
            session,
            runtime.redis,
            Mailer(runtime.settings),  # type: ignore[arg-type]
            actor=await session.get_one(User, admin),
            user_id=newbie,
        )

    async with runtime.db.session() as session:
        (mail,) = (await session.scalars(select(OutboxMessage))).all()
    assert mail.recipient == "newbie@example.com"
    assert mail.status == OutboxStatus.PENDING
    assert "/activate/" in mail.body_text
    (entry,) = await moderation_entries(runtime)
    assert (entry.actor_id, entry.action, entry.subject_id, entry.target) == (
        admin,
        ModerationAction.RESEND_ACTIVATION,
        newbie,
        "user newbie",
    )


async def test_activation_mails_go_only_to_inactive_accounts_and_only_by_administrators(
    runtime: Runtime,
) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    mod = await add_user_row(runtime, "mod", role=Role.MODERATOR)
    active = await add_user_row(runtime, "active")
    newbie = await add_user_row(runtime, "newbie", active=False)
    assert runtime.redis is not None

    async def resend(actor_id: int, user_id: int) -> None:
        async with runtime.db.session() as session:
            await moderation.resend_activation(
                session,
                runtime.redis,  # type: ignore[arg-type]
                Mailer(runtime.settings),  # type: ignore[arg-type]
                actor=await session.get_one(User, actor_id),
                user_id=user_id,
            )

    with pytest.raises(InvalidInput, match="already active"):
        await resend(admin, active)
    with pytest.raises(PermissionDenied):
        await resend(mod, newbie)
    with pytest.raises(NotFoundError):
        await resend(admin, 999_999)
    assert await count_rows(runtime, OutboxMessage) == 0
    assert await moderation_entries(runtime) == []


# -- site counts -----------------------------------------------------------------


async def test_site_counts_count_exactly(runtime: Runtime) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    alice = await add_user_row(runtime, "alice")
    bob = await add_user_row(runtime, "bob")
    await add_user_row(runtime, "locked1", locked=True)
    await add_user_row(runtime, "locked2", locked=True)
    await add_user_row(runtime, "new1", active=False)
    await add_user_row(runtime, "new2", active=False)  # 7 users, 5 active, 2 locked
    first, second, _third = await add_image_rows(runtime, alice, 3)
    async with runtime.db.session() as session:
        for image_id, text in ((first, "a"), (first, "b"), (second, "c")):
            await comments.add_comment(
                session,
                None,
                image_id=image_id,
                author=await session.get_one(User, bob),
                content=text,
            )
        reporter = await session.get_one(User, bob)
        await reports.report_image(session, reporter=reporter, image_id=first, reason="one")
        await reports.report_image(session, reporter=reporter, image_id=second, reason="two")
        await reports.report_image(
            session, reporter=await session.get_one(User, admin), image_id=second, reason="three"
        )
        session.add_all(
            OutboxMessage(
                recipient=f"{status}@example.com",
                subject="s",
                body_text="t",
                body_html="h",
                status=status.value,
            )
            for status in (
                OutboxStatus.PENDING,
                OutboxStatus.PENDING,
                OutboxStatus.SENT,
                OutboxStatus.FAILED,
            )
        )
        await session.commit()
        await reports.dismiss(
            session,
            actor=await session.get_one(User, admin),
            kind=reports.ReportTarget.IMAGE,
            target_id=first,
        )

    async with runtime.db.session() as session:
        counts = await moderation.site_counts(session)
    assert counts == moderation.SiteCounts(
        users=7,
        active_users=5,
        locked_users=2,
        images=3,
        comments=3,
        open_reports=2,
        outbox_backlog=2,
    )


async def test_site_counts_of_an_empty_site_are_zero(runtime: Runtime) -> None:
    async with runtime.db.session() as session:
        assert await moderation.site_counts(session) == moderation.SiteCounts(0, 0, 0, 0, 0, 0, 0)


# -- the user list ---------------------------------------------------------------


async def user_list(runtime: Runtime, **kwargs: Any) -> moderation.UserListPage:
    async with runtime.db.session() as session:
        return await moderation.list_users(session, **kwargs)


async def names(runtime: Runtime, **kwargs: Any) -> list[str]:
    return [user.username for user in (await user_list(runtime, **kwargs)).users]


async def test_the_user_list_pages_newest_first_without_duplicates(runtime: Runtime) -> None:
    ids = [await add_user_row(runtime, f"user{index}") for index in range(7)]

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = await user_list(runtime, limit=3, cursor=cursor)
        seen.extend(user.id for user in page.users)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == sorted(ids, reverse=True)

    with pytest.raises(InvalidInput):
        await user_list(runtime, limit=0)
    with pytest.raises(InvalidInput):
        await user_list(runtime, cursor="not-a-cursor")


async def test_the_user_list_searches_username_and_email_prefixes_ignoring_case(
    runtime: Runtime,
) -> None:
    await add_user_row(runtime, "Alice", email="Alice@Example.com")
    await add_user_row(runtime, "alfred", email="fred@mail.org")
    await add_user_row(runtime, "bob", email="AL.bob@example.com")
    await add_user_row(runtime, "carol", email="carol@al.example")

    assert await names(runtime, search="AL") == ["bob", "alfred", "Alice"]
    assert await names(runtime, search="  alI ") == ["Alice"]
    assert await names(runtime, search="FRED@") == ["alfred"]
    assert await names(runtime, search="alice@example.COM") == ["Alice"]
    assert await names(runtime, search="example") == []  # a prefix, not anywhere
    assert await names(runtime, search="") == ["carol", "bob", "alfred", "Alice"]
    with pytest.raises(InvalidInput):
        await user_list(runtime, search="x" * 255)


async def test_the_user_list_search_takes_percent_and_underscore_literally(
    runtime: Runtime,
) -> None:
    await add_user_row(runtime, "a_b")
    await add_user_row(runtime, "axb")
    await add_user_row(runtime, "zed", email="100%real@example.com")
    await add_user_row(runtime, "ten", email="100abc@example.com")

    assert await names(runtime, search="a_") == ["a_b"]
    assert await names(runtime, search="100%") == ["zed"]
    assert await names(runtime, search="1%") == []
    assert await names(runtime, search="%") == []
    assert await names(runtime, search="_") == []


async def test_the_user_list_filters(runtime: Runtime) -> None:
    await add_user_row(runtime, "plain")
    await add_user_row(runtime, "mod", role=Role.MODERATOR)
    await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    await add_user_row(runtime, "banned", locked=True)
    await add_user_row(runtime, "newbie", active=False)
    await add_user_row(runtime, "badmod", role=Role.MODERATOR, locked=True)

    assert await names(runtime, which=UserFilter.LOCKED) == ["badmod", "banned"]
    assert await names(runtime, which=UserFilter.UNACTIVATED) == ["newbie"]
    assert await names(runtime, which=UserFilter.MODERATORS) == ["badmod", "admin", "mod"]
    assert len(await names(runtime, which=UserFilter.ALL)) == 6
    assert await names(runtime, which=UserFilter.MODERATORS, search="ad") == ["admin"]


# -- the log ---------------------------------------------------------------------


async def test_the_log_reads_newest_first_by_pages_with_actor_and_subject(
    runtime: Runtime,
) -> None:
    admin = await add_user_row(runtime, "admin", role=Role.ADMINISTRATOR)
    bob = await add_user_row(runtime, "bob")
    async with runtime.db.session() as session:
        actor = await session.get_one(User, admin)
        for index in range(5):
            moderation.record(
                session,
                actor=actor if index % 2 == 0 else None,
                action=ModerationAction.LOCK_USER,
                target=f"user bob {index}",
                subject_id=bob,
                summary=f"entry {index}",
            )
        await session.commit()

    seen: list[str] = []
    cursor = None
    while True:
        async with runtime.db.session() as session:
            page = await moderation.list_log(session, limit=2, cursor=cursor)
        # Loaded with the page: the relationships would raise if they were not.
        for entry in page.entries:
            assert entry.subject is not None and entry.subject.username == "bob"
            index = int(entry.summary.split()[-1])
            if index % 2 == 0:
                assert entry.actor is not None and entry.actor.username == "admin"
            else:
                assert entry.actor is None
        seen.extend(entry.summary for entry in page.entries)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"entry {index}" for index in reversed(range(5))]


async def test_a_long_target_is_cut_to_fit(runtime: Runtime) -> None:
    async with runtime.db.session() as session:
        entry = moderation.record(
            session, actor=None, action=ModerationAction.DELETE_IMAGE, target="x" * 150
        )
        await session.commit()
    assert entry.target == "x" * 100
    assert (await moderation_entries(runtime))[0].target == "x" * 100


# -- deletions and the comment switch, as the log sees them ----------------------

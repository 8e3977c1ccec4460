"""Running the site: locking accounts, roles, site counts, the user list, the log.

Every action here (and every deletion a moderator makes of someone else's
content, see ``services/images.py`` and ``services/comments.py``) writes one
``ModerationEntry`` in the same transaction as the change it records, so the
log never claims what did not happen nor misses what did.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio as aioredis
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.selectable import ScalarSelect

from gallery.models.base import Base, utcnow
from gallery.models.comment import Comment
from gallery.models.image import Image
from gallery.models.mail import OutboxMessage, OutboxStatus
from gallery.models.moderation import ModerationAction, ModerationEntry, Report
from gallery.models.user import Permission, Role, User
from gallery.services import live
from gallery.services.accounts import queue_activation_mail
from gallery.services.errors import Conflict, InvalidInput, NotFoundError, PermissionDenied
from gallery.services.mail import Mailer
from gallery.services.paging import check_limit, decode_cursor, trim_page
from gallery.services.permissions import outranks, require_permission
from gallery.services.search import starts_with
from gallery.services.validation import bounded_text

REASON_MAX_LENGTH = 500
SUMMARY_QUOTE_LENGTH = 200


class UserFilter(StrEnum):
    ALL = "all"
    LOCKED = "locked"
    UNACTIVATED = "unactivated"
    MODERATORS = "moderators"  # moderators and administrators


@dataclass(frozen=True)
class SiteCounts:
    users: int
    active_users: int
    locked_users: int
    images: int
    comments: int
    open_reports: int
    outbox_backlog: int


@dataclass(frozen=True)
class UserListPage:
    users: list[User]
    next_cursor: str | None


@dataclass(frozen=True)
class LogPage:
    entries: list[ModerationEntry]
    next_cursor: str | None


def check_reason(reason: str | None, *, required: bool = False) -> str:
    """A moderator's "why": trimmed, at most 500 characters, maybe required."""
    missing = "Say why: the reason goes into the moderation log." if required else None
    return bounded_text(
        reason, what="reason", field="reason", max_length=REASON_MAX_LENGTH, missing=missing
    )


def quote(text: str) -> str:
    """Content as the log keeps it: enough to recognise it after it is gone."""
    text = " ".join(text.split())
    if len(text) > SUMMARY_QUOTE_LENGTH:
        text = text[: SUMMARY_QUOTE_LENGTH - 1] + "…"
    return f"“{text}”" if text else "(no text)"


def record(
    session: AsyncSession,
    *,
    actor: User | None,
    action: ModerationAction,
    target: str,
    subject_id: int | None = None,
    summary: str = "",
    reason: str = "",
) -> ModerationEntry:
    """Add a log entry to the session; it commits with the change it describes.

    ``actor`` ``None`` means the command line.
    """
    entry = ModerationEntry(
        actor_id=actor.id if actor else None,
        action=action.value,
        target=target[:100],
        subject_id=subject_id,
        summary=summary,
        reason=reason,
    )
    session.add(entry)
    return entry


def image_summary(image: Image, author_name: str) -> str:
    return f"Photo by {author_name}: {quote(image.description)}"


def comment_summary(comment: Comment, author_name: str) -> str:
    return f"Comment by {author_name} on photo {comment.image_id}: {quote(comment.content)}"


# -- accounts ------------------------------------------------------------------


async def get_user(session: AsyncSession, user_id: int) -> User:
    """Any account, activated or not (``NotFoundError`` if there is none)."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError("There is no user with that id.")
    return user


async def _commit_account_change(
    session: AsyncSession,
    *,
    actor: User | None,
    action: ModerationAction,
    user: User,
    summary: str,
    reason: str = "",
) -> User:
    """Log a change made to ``user``'s account and commit both together."""
    record(
        session,
        actor=actor,
        action=action,
        target=f"user {user.username}",
        subject_id=user.id,
        summary=summary,
        reason=reason,
    )
    await session.commit()
    return user


def _check_manages(actor: User, user: User) -> None:
    require_permission(actor, Permission.MODERATE)
    if actor.id == user.id:
        raise PermissionDenied("You cannot do this to your own account.")
    if not outranks(actor, user):
        raise PermissionDenied(
            f"{user.username} is a {user.role_name}: only an administrator can change that account."
        )


async def lock_user(
    session: AsyncSession,
    *,
    actor: User,
    user_id: int,
    reason: str | None,
    redis: aioredis.Redis | None = None,
) -> User:
    """Lock an account (moderators: plain users; administrators: anyone else).

    A locked account keeps its sign-in and can browse; everything it tries to
    change is refused (``services/permissions.py``). Locking again only
    updates the reason.
    """
    why = check_reason(reason, required=True)
    user = await get_user(session, user_id)
    _check_manages(actor, user)
    if user.locked_at is None:
        user.locked_at = utcnow()
    user.lock_reason = why
    await _commit_account_change(
        session,
        actor=actor,
        action=ModerationAction.LOCK_USER,
        user=user,
        summary=f"Locked {user.username} ({user.role_name}).",
        reason=why,
    )
    await live.lock_changed(redis, user_id=user.id, locked=True)
    return user


async def unlock_user(
    session: AsyncSession,
    *,
    actor: User,
    user_id: int,
    reason: str | None,
    redis: aioredis.Redis | None = None,
) -> User:
    """Give a locked account its permissions back."""
    why = check_reason(reason)
    user = await get_user(session, user_id)
    _check_manages(actor, user)
    if user.locked_at is None:
        raise InvalidInput(f"{user.username} is not locked.")
    user.locked_at = None
    user.lock_reason = None
    await _commit_account_change(
        session,
        actor=actor,
        action=ModerationAction.UNLOCK_USER,
        user=user,
        summary=f"Unlocked {user.username}.",
        reason=why,
    )
    await live.lock_changed(redis, user_id=user.id, locked=False)
    return user


def _is_working_administrator() -> ColumnElement[bool]:
    administer = int(Permission.ADMINISTER)
    return and_(
        User.permissions.op("&")(administer) == administer,
        User.is_active,
        User.locked_at.is_(None),
    )


async def _lock_administrators(session: AsyncSession, user_id: int) -> list[int]:
    """Serialise role changes that could remove the last administrator.

    Two administrators demoting each other at once must not both see the
    other one still in office. The working administrators are read with
    ``FOR UPDATE``, in id order: a locking read sees the latest commit (not
    the transaction's snapshot) and a second change queues behind the first
    instead of deadlocking. SQLite has no row locks: its one write lock is
    taken first instead. Returns the ids of the working administrators.
    """
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(
            update(User).where(User.id == user_id).values(permissions=User.permissions)
        )
    return list(
        (
            await session.scalars(
                select(User.id)
                .where(_is_working_administrator())
                .order_by(User.id)
                .with_for_update()
            )
        ).all()
    )


async def set_role(
    session: AsyncSession,
    *,
    actor: User | None,
    user_id: int,
    role: str,
    reason: str | None = None,
) -> User:
    """Give an account the bits of ``role`` (user, moderator, administrator).

    Administrators only (``actor`` ``None`` is the trusted command line); the
    last working administrator cannot be demoted, so the site is never left
    without one.
    """
    if actor is not None:
        require_permission(actor, Permission.ADMINISTER)
    why = check_reason(reason)
    try:
        bits = Role.bits_of(role)
    except ValueError:
        names = ", ".join(Role.NAMES)
        message = f"There is no role {role!r}; choose one of {names}."
        raise InvalidInput(message, field="role") from None
    administrators = await _lock_administrators(session, user_id)
    user = await get_user(session, user_id)
    await session.refresh(user, with_for_update=True)  # as it is now, under the lock
    before = user.role_name
    if user.permissions == int(bits):
        await session.commit()
        return user
    if (
        user.has_bits(Permission.ADMINISTER)
        and not bits & Permission.ADMINISTER
        and not set(administrators) - {user.id}
    ):
        # No rollback here: it would expire what the request has loaded (the
        # signed-in user); the session ends with the request and undoes nothing.
        raise Conflict(
            f"{user.username} is the only working administrator; make someone else one first."
        )
    user.permissions = int(bits)
    return await _commit_account_change(
        session,
        actor=actor,
        action=ModerationAction.CHANGE_ROLE,
        user=user,
        summary=f"Role of {user.username}: {before} → {user.role_name}.",
        reason=why,
    )


async def find_user_id(session: AsyncSession, username: str) -> int:
    """The id of the account called ``username`` (any case, activated or not)."""
    user_id = await session.scalar(
        select(User.id).where(User.username_key == User.key_for(username))
    )
    if user_id is None:
        raise NotFoundError(f"There is no user called {username!r}.")
    return user_id


async def resend_activation(
    session: AsyncSession, redis: aioredis.Redis, mailer: Mailer, *, actor: User, user_id: int
) -> User:
    """Queue a fresh activation mail for an account that is not active yet."""
    require_permission(actor, Permission.ADMINISTER)
    user = await get_user(session, user_id)
    if user.is_active:
        raise InvalidInput(f"{user.username} is already active.")
    await queue_activation_mail(session, redis, mailer, user)
    return await _commit_account_change(
        session,
        actor=actor,
        action=ModerationAction.RESEND_ACTIVATION,
        user=user,
        summary=f"Sent a new activation mail to {user.email}.",
    )


# -- what administrators look at -----------------------------------------------


async def site_counts(session: AsyncSession) -> SiteCounts:
    """The numbers on ``/admin``, in one query."""

    def count(model: type[Base], *conditions: ColumnElement[bool]) -> ScalarSelect[int]:
        return select(func.count()).select_from(model).where(*conditions).scalar_subquery()

    row = (
        await session.execute(
            select(
                count(User),
                count(User, User.is_active.is_(True)),
                count(User, User.locked_at.is_not(None)),
                count(Image),
                count(Comment),
                count(Report, Report.open_condition()),
                count(OutboxMessage, OutboxMessage.status == OutboxStatus.PENDING.value),
            )
        )
    ).one()
    return SiteCounts(*(int(value or 0) for value in row))


async def list_users(
    session: AsyncSession,
    *,
    search: str | None = None,
    which: UserFilter = UserFilter.ALL,
    limit: int | None = None,
    cursor: str | None = None,
) -> UserListPage:
    """Accounts, newest first: ``search`` matches the start of a username or e-mail."""
    size = check_limit(limit)
    before_id = decode_cursor(cursor)
    query = select(User).order_by(User.id.desc()).limit(size + 1)
    text = User.key_for(search or "")
    if len(text) > 254:
        raise InvalidInput("The search is too long.", field="q")
    if text:
        # A range on the unique keys, not LIKE: "%" and "_" mean themselves.
        query = query.where(
            or_(
                and_(*starts_with(User.username_key, text)),
                and_(*starts_with(User.email_key, text)),
            )
        )
    moderate = int(Permission.MODERATE)
    conditions = {
        UserFilter.ALL: None,
        UserFilter.LOCKED: User.locked_at.is_not(None),
        UserFilter.UNACTIVATED: User.is_active.is_(False),
        UserFilter.MODERATORS: User.permissions.op("&")(moderate) == moderate,
    }
    condition = conditions[which]
    if condition is not None:
        query = query.where(condition)
    if before_id is not None:
        query = query.where(User.id < before_id)
    rows, next_cursor = trim_page((await session.scalars(query)).all(), size)
    return UserListPage(users=rows, next_cursor=next_cursor)


async def list_log(
    session: AsyncSession, *, limit: int | None = None, cursor: str | None = None
) -> LogPage:
    """The moderation log, newest first, with who acted and whom it concerned."""
    size = check_limit(limit)
    before_id = decode_cursor(cursor)
    query = (
        select(ModerationEntry)
        .options(joinedload(ModerationEntry.actor), joinedload(ModerationEntry.subject))
        .order_by(ModerationEntry.id.desc())
        .limit(size + 1)
    )
    if before_id is not None:
        query = query.where(ModerationEntry.id < before_id)
    rows, next_cursor = trim_page((await session.scalars(query)).all(), size)
    return LogPage(entries=rows, next_cursor=next_cursor)

"""Reports on images and comments, and the moderators' queue of them.

Anyone signed in (and not locked) reports an image or a comment with a
reason, at most once while that report is open. Moderators see the open
reports grouped by what they are about, most-reported first, and close them
by dismissing them or by deleting the content; they can also lock the
author. Each of those actions lands in the moderation log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import redis.asyncio as aioredis
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from gallery.infra.db import insert_unless_present
from gallery.infra.storage import Storage
from gallery.models.base import utcnow
from gallery.models.comment import Comment
from gallery.models.image import Image
from gallery.models.moderation import (
    REPORT_REASON_MAX_LENGTH,
    ModerationAction,
    Report,
    ReportResolution,
)
from gallery.models.user import Permission, User
from gallery.services import comments, images, moderation
from gallery.services.errors import Conflict, InvalidInput, NotFoundError
from gallery.services.permissions import require_permission
from gallery.services.validation import bounded_text
from gallery.services.visibility import (
    check_not_blocked,
    check_post_visible,
    visible_post_author,
)

QUEUE_PAGE_SIZE = 20
# How many queue groups a page may ask for (the pages use QUEUE_PAGE_SIZE).
QUEUE_PAGE_MAX = 100


class ReportTarget(StrEnum):
    IMAGE = "image"
    COMMENT = "comment"


NOUNS = {ReportTarget.IMAGE: "photo", ReportTarget.COMMENT: "comment"}


@dataclass
class ReportGroup:
    """The open reports on one image or comment, with the content they are about."""

    kind: ReportTarget
    target_id: int
    author: User
    image: Image | None = None  # for an image report
    comment: Comment | None = None  # for a comment report
    reports: list[Report] = field(default_factory=list)  # oldest first, reporters loaded

    @property
    def report_count(self) -> int:
        return len(self.reports)


@dataclass(frozen=True)
class QueuePage:
    groups: list[ReportGroup]
    page: int
    has_next: bool


def target_kind(value: str) -> ReportTarget:
    try:
        return ReportTarget(value)
    except ValueError:
        raise InvalidInput("Reports are about an image or a comment.", field="kind") from None


def check_report_reason(reason: str | None) -> str:
    return bounded_text(
        reason,
        what="reason",
        field="reason",
        max_length=REPORT_REASON_MAX_LENGTH,
        missing="Say what is wrong with it, so moderators know.",
    )


def _on_target(kind: ReportTarget, target_id: int) -> ColumnElement[bool]:
    column = Report.image_id if kind is ReportTarget.IMAGE else Report.comment_id
    return column == target_id


# -- filing a report -------------------------------------------------------------


NO_COMMENT_MESSAGE = "There is no comment with that id (it may have been deleted)."


async def report_image(
    session: AsyncSession, *, reporter: User, image_id: int, reason: str | None
) -> Report:
    """``reporter`` reports an image; ``Conflict`` if their earlier report is still open."""
    require_permission(reporter)
    author_id = await visible_post_author(session, reporter, image_id)
    return await _file(session, reporter, ReportTarget.IMAGE, image_id, author_id, reason)


async def report_comment(
    session: AsyncSession, *, reporter: User, comment_id: int, reason: str | None
) -> Report:
    """``reporter`` reports a comment; ``Conflict`` if their earlier report is still open."""
    require_permission(reporter)
    row = (
        await session.execute(
            select(Comment.author_id, Image.author_id, Image.is_public)
            .join(Image, Image.id == Comment.image_id)
            .where(Comment.id == comment_id)
        )
    ).first()
    if row is None:
        raise NotFoundError(NO_COMMENT_MESSAGE)
    author_id, post_author_id, post_is_public = row
    # The reporter must see the post, and the comment's author must not be behind a block.
    await check_post_visible(session, reporter, post_author_id, post_is_public, NO_COMMENT_MESSAGE)
    await check_not_blocked(session, reporter, author_id, NO_COMMENT_MESSAGE)
    return await _file(session, reporter, ReportTarget.COMMENT, comment_id, author_id, reason)


async def _file(
    session: AsyncSession,
    reporter: User,
    kind: ReportTarget,
    target_id: int,
    author_id: int,
    reason: str | None,
) -> Report:
    noun = NOUNS[kind]
    if author_id == reporter.id:
        raise InvalidInput(f"You cannot report your own {noun}; you can delete it instead.")
    text = check_report_reason(reason)
    open_key = Report.open_key_for(reporter.id, kind.value, target_id)
    # The unique open_key settles a race between two tabs: one insert wins, quietly.
    added = await insert_unless_present(
        session,
        Report.__table__,
        {
            "reporter_id": reporter.id,
            "image_id": target_id if kind is ReportTarget.IMAGE else None,
            "comment_id": target_id if kind is ReportTarget.COMMENT else None,
            "reason": text,
            "open_key": open_key,
            "created_at": utcnow(),
        },
    )
    await session.commit()
    report = await session.scalar(select(Report).where(Report.open_key == open_key))
    if report is None:
        # Not inserted and no open report either: INSERT IGNORE also swallows the
        # foreign-key error of a target deleted a moment ago.
        raise NotFoundError(f"That {noun} is gone (it may have been deleted).")
    if not added:
        raise Conflict(f"You have already reported this {noun}; a moderator will look at it.")
    return report


# -- the queue -------------------------------------------------------------------


async def queue(
    session: AsyncSession, *, page: int = 1, per_page: int = QUEUE_PAGE_SIZE
) -> QueuePage:
    """Open reports grouped by target, most-reported first (then the longest waiting).

    Four queries whatever the page holds: the groups, their reports with the
    reporters, the images and the comments with their authors.
    """
    if page < 1 or page > 10_000:
        raise InvalidInput("There is no such page of the queue.", field="page")
    per_page = max(1, min(per_page, QUEUE_PAGE_MAX))
    count = func.count(Report.id)
    first = func.min(Report.id)
    rows = (
        await session.execute(
            select(Report.image_id, Report.comment_id)
            .where(Report.open_condition())
            .group_by(Report.image_id, Report.comment_id)
            .order_by(count.desc(), first)
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        )
    ).all()
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    image_ids = [image_id for image_id, _ in rows if image_id is not None]
    comment_ids = [comment_id for _, comment_id in rows if comment_id is not None]
    if not rows:
        return QueuePage(groups=[], page=page, has_next=False)

    reports = (
        await session.scalars(
            select(Report)
            .options(joinedload(Report.reporter))
            .where(
                Report.open_condition(),
                or_(Report.image_id.in_(image_ids), Report.comment_id.in_(comment_ids)),
            )
            .order_by(Report.id)
        )
    ).all()
    found_images = {
        image.id: image
        for image in await session.scalars(
            select(Image).options(joinedload(Image.author)).where(Image.id.in_(image_ids))
        )
    }
    found_comments = {
        comment.id: comment
        for comment in await session.scalars(
            select(Comment).options(joinedload(Comment.author)).where(Comment.id.in_(comment_ids))
        )
    }
    groups: list[ReportGroup] = []
    by_target: dict[tuple[ReportTarget, int], ReportGroup] = {}
    for image_id, comment_id in rows:
        group: ReportGroup | None = None
        if image_id is not None and image_id in found_images:
            image = found_images[image_id]
            group = ReportGroup(ReportTarget.IMAGE, image_id, image.author, image=image)
        elif comment_id is not None and comment_id in found_comments:
            comment = found_comments[comment_id]
            group = ReportGroup(ReportTarget.COMMENT, comment_id, comment.author, comment=comment)
        if group is not None:  # else deleted between the queries
            groups.append(group)
            by_target[(group.kind, group.target_id)] = group
    for report in reports:
        key = (
            (ReportTarget.IMAGE, report.image_id)
            if report.image_id is not None
            else (ReportTarget.COMMENT, report.comment_id or 0)
        )
        if key in by_target:
            by_target[key].reports.append(report)
    return QueuePage(groups=groups, page=page, has_next=has_next)


async def _open_reasons(session: AsyncSession, kind: ReportTarget, target_id: int) -> list[str]:
    return list(
        (
            await session.scalars(
                select(Report.reason)
                .where(Report.open_condition(), _on_target(kind, target_id))
                .order_by(Report.id)
            )
        ).all()
    )


def _reported_because(kind: ReportTarget, reasons: list[str]) -> str:
    noun = NOUNS[kind]
    if not reasons:
        return ""
    listed = "; ".join(moderation.quote(reason) for reason in reasons[:5])
    more = f" and {len(reasons) - 5} more" if len(reasons) > 5 else ""
    text = f"Reported {noun} ({len(reasons)}×): {listed}{more}"
    # It stands in for the moderator's reason, which has the same limit.
    limit = moderation.REASON_MAX_LENGTH
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _target_summary(
    session: AsyncSession, kind: ReportTarget, target_id: int
) -> tuple[str, int]:
    """What the target is, in words for the log, and its author's id."""
    if kind is ReportTarget.IMAGE:
        image = await images.get_image(session, target_id)
        return moderation.image_summary(image, image.author.username), image.author_id
    comment = await comments.get_comment(session, target_id)
    return moderation.comment_summary(comment, comment.author.username), comment.author_id


async def dismiss(
    session: AsyncSession,
    *,
    actor: User,
    kind: ReportTarget,
    target_id: int,
    reason: str | None = None,
) -> int:
    """Close the open reports on a target as unfounded; returns how many."""
    require_permission(actor, Permission.MODERATE)
    why = moderation.check_reason(reason)
    summary, author_id = await _target_summary(session, kind, target_id)
    reasons = await _open_reasons(session, kind, target_id)
    closed = await session.execute(
        update(Report)
        .where(Report.open_condition(), _on_target(kind, target_id))
        .values(
            open_key=None,
            resolved_at=utcnow(),
            resolved_by_id=actor.id,
            resolution=ReportResolution.DISMISSED.value,
        )
        .execution_options(synchronize_session=False)
    )
    count = int(closed.rowcount or 0)  # type: ignore[attr-defined]
    if count == 0:
        raise NotFoundError(
            f"There are no open reports on this {NOUNS[kind]} (another moderator may have "
            "handled them)."
        )
    moderation.record(
        session,
        actor=actor,
        action=ModerationAction.DISMISS_REPORTS,
        target=f"{kind.value} {target_id}",
        subject_id=author_id,
        summary=f"{summary} — {_reported_because(kind, reasons)}",
        reason=why,
    )
    await session.commit()
    return count


async def delete_reported(
    session: AsyncSession,
    storage: Storage,
    redis: aioredis.Redis | None,
    *,
    actor: User,
    kind: ReportTarget,
    target_id: int,
    reason: str | None = None,
) -> None:
    """Delete the reported image (files as in any deletion) or comment; its reports go too.

    Without a reason of the moderator's own, the reports' reasons are logged.
    """
    require_permission(actor, Permission.MODERATE)
    why = moderation.check_reason(reason) or _reported_because(
        kind, await _open_reasons(session, kind, target_id)
    )
    if kind is ReportTarget.IMAGE:
        await images.delete_image(
            session, storage, redis, image_id=target_id, actor=actor, reason=why, moderating=True
        )
    else:
        await comments.delete_comment(
            session, redis, comment_id=target_id, actor=actor, reason=why, moderating=True
        )


async def lock_author(
    session: AsyncSession,
    *,
    actor: User,
    kind: ReportTarget,
    target_id: int,
    reason: str | None = None,
    redis: aioredis.Redis | None = None,
) -> User:
    """Lock the author of a reported target; the reports stay open until handled."""
    require_permission(actor, Permission.MODERATE)
    _, author_id = await _target_summary(session, kind, target_id)
    why = moderation.check_reason(reason) or _reported_because(
        kind, await _open_reasons(session, kind, target_id)
    )
    return await moderation.lock_user(
        session, actor=actor, user_id=author_id, reason=why, redis=redis
    )

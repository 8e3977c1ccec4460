"""Deleting an account: hidden and signed out at once, emptied by a job in batches.

Asked for by its owner (the password, and the second factor when it is on)
or by an administrator (logged, with a reason). At once, in one transaction:
the account is marked deleted and inactive (its profile and sign-in are
gone), its posts leave every feed (not public, no followers), its name is
reserved for ``usernames.RESERVED_DAYS``; then every session ends.

What it leaves is removed afterwards by ``run_account_deleter`` (the
worker's job), a batch per transaction: posts with their files, comments
(their posts' counts go down with them), likes (likewise), drafts, the
avatar, data exports with their archives, notices, follows, mutes, blocks,
saves, requests, reports it filed, passkeys and codes, and finally the row.
Each batch removes what is still there, so a restart mid-way, or two
workers, just carry on: the account row is the job's bookmark. The
moderation log keeps its entries and their wording; only the link to the
account goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import timedelta

import redis.asyncio as aioredis
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.db import Database
from gallery.infra.sessions import SignInStore
from gallery.infra.storage import Storage
from gallery.models.base import utcnow
from gallery.models.comment import Comment
from gallery.models.image import Image, Photo, PostVersion
from gallery.models.moderation import ModerationAction, ModerationEntry, Report
from gallery.models.social import (
    Block,
    Follow,
    FollowRequest,
    Like,
    Mute,
    Notification,
    Save,
)
from gallery.models.user import (
    Passkey,
    Permission,
    RecoveryCode,
    User,
    UsernameReservation,
)
from gallery.services import moderation, two_factor
from gallery.services import storage as stored_files
from gallery.services.errors import InvalidInput, NotFoundError, PermissionDenied
from gallery.services.exports import remove_exports_of
from gallery.services.feeds import bump_feed_version
from gallery.services.images import remove_post
from gallery.services.passwords import verify_password
from gallery.services.permissions import outranks, require_permission
from gallery.services.usernames import RESERVED_DAYS

log = logging.getLogger(__name__)

POSTS_PER_BATCH = 10  # each with its files
ROWS_PER_BATCH = 500
# One worker at a time per account (the others skip it): a Redis lease.
LEASE_SECONDS = 120


async def delete_own_account(
    session: AsyncSession,
    redis: aioredis.Redis | None,
    sign_ins: SignInStore,
    user: User,
    *,
    password: str,
    code: str = "",
) -> None:
    """The owner's "Delete my account": the password, and a code when two-factor is on."""
    if not await verify_password(user.password_hash, password):
        raise InvalidInput("The password is wrong.", field="password")
    if user.has_two_factor:
        await two_factor.check_code(session, user, code)
    await _hide(session, redis, sign_ins, user)


async def delete_account_as_administrator(
    session: AsyncSession,
    redis: aioredis.Redis | None,
    sign_ins: SignInStore,
    *,
    actor: User,
    user_id: int,
    reason: str | None,
) -> User:
    """An administrator deletes someone else's account the same way, logged with ``reason``."""
    require_permission(actor, Permission.ADMINISTER)
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFoundError("There is no such account (it may be deleted already).")
    if user.id == actor.id or not outranks(actor, user):
        raise PermissionDenied("You may not delete this account.")
    why = moderation.check_reason(reason, required=True)
    moderation.record(
        session,
        actor=actor,
        action=ModerationAction.DELETE_ACCOUNT,
        target=f"user {user.id}",
        subject_id=user.id,
        summary=f"{user.username} ({user.email}), joined {user.created_at:%Y-%m-%d}",
        reason=why,
    )
    await _hide(session, redis, sign_ins, user)
    return user


async def _hide(
    session: AsyncSession, redis: aioredis.Redis | None, sign_ins: SignInStore, user: User
) -> None:
    now = utcnow()
    user.deleted_at = now
    user.is_active = False
    # Posts leave every feed: nobody follows the account, and none is public.
    await session.execute(
        delete(Follow).where(or_(Follow.follower_id == user.id, Follow.followed_id == user.id))
    )
    await session.execute(update(Image).where(Image.author_id == user.id).values(is_public=False))
    await session.execute(
        delete(UsernameReservation).where(UsernameReservation.username_key == user.username_key)
    )
    session.add(
        UsernameReservation(
            username_key=user.username_key,
            user_id=user.id,
            reserved_until=now + timedelta(days=RESERVED_DAYS),
        )
    )
    await session.commit()
    await sign_ins.revoke_all(user.id)
    if redis is not None:
        await bump_feed_version(redis)


# -- the job ------------------------------------------------------------------


async def next_step(
    session: AsyncSession,
    storage: Storage,
    exports: Storage,
    redis: aioredis.Redis | None,
    user_id: int,
) -> bool:
    """Remove one batch of what the deleted account ``user_id`` left; False once it is gone."""
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is None:
        return False

    posts = list(
        await session.scalars(
            select(Image)
            .where(Image.author_id == user_id)
            .order_by(Image.id)
            .limit(POSTS_PER_BATCH)
        )
    )
    if posts:
        for post in posts:
            await remove_post(session, storage, redis, post)
        return True

    comments = (
        await session.execute(
            select(Comment.id, Comment.image_id)
            .where(Comment.author_id == user_id)
            .limit(ROWS_PER_BATCH)
        )
    ).all()
    if comments:
        ids = [comment_id for comment_id, _ in comments]
        await session.execute(delete(Report).where(Report.comment_id.in_(ids)))
        await session.execute(delete(Notification).where(Notification.comment_id.in_(ids)))
        await session.execute(delete(Comment).where(Comment.id.in_(ids)))
        for image_id, count in Counter(image_id for _, image_id in comments).items():
            await session.execute(
                update(Image)
                .where(Image.id == image_id)
                .values(comment_count=Image.comment_count - count)
            )
        await session.commit()
        return True

    liked = list(
        await session.scalars(
            select(Like.image_id).where(Like.user_id == user_id).limit(ROWS_PER_BATCH)
        )
    )
    if liked:
        await session.execute(delete(Like).where(Like.user_id == user_id, Like.image_id.in_(liked)))
        await session.execute(
            update(Image).where(Image.id.in_(liked)).values(like_count=Image.like_count - 1)
        )
        await session.commit()
        return True

    drafts = list(
        await session.scalars(
            select(Photo).where(Photo.owner_id == user_id, Photo.image_id.is_(None)).limit(50)
        )
    )
    if drafts or user.avatar_key:
        keys = [key for draft in drafts for key in draft.storage_keys] + user.avatar_keys
        for draft in drafts:
            await session.delete(draft)
        user.avatar_key = None
        removals = stored_files.record_deletes(session, keys)
        await session.commit()
        await stored_files.remove_files(session, storage, removals)
        return True

    await remove_exports_of(session, exports, user_id)
    # The rest are rows without counts or files: one statement each.
    for statement in (
        delete(Notification).where(
            or_(Notification.recipient_id == user_id, Notification.actor_id == user_id)
        ),
        delete(FollowRequest).where(
            or_(FollowRequest.requester_id == user_id, FollowRequest.target_id == user_id)
        ),
        delete(Mute).where(or_(Mute.muter_id == user_id, Mute.muted_id == user_id)),
        delete(Block).where(or_(Block.blocker_id == user_id, Block.blocked_id == user_id)),
        delete(Save).where(Save.user_id == user_id),
        delete(Report).where(Report.reporter_id == user_id),
        delete(Passkey).where(Passkey.user_id == user_id),
        delete(RecoveryCode).where(RecoveryCode.user_id == user_id),
        # The name stays reserved, no longer pointing anywhere.
        update(UsernameReservation)
        .where(UsernameReservation.user_id == user_id)
        .values(user_id=None),
        # The log keeps every entry and its words; only the link to the account goes.
        update(ModerationEntry)
        .where(ModerationEntry.subject_id == user_id)
        .values(subject_id=None),
        update(ModerationEntry).where(ModerationEntry.actor_id == user_id).values(actor_id=None),
        update(PostVersion).where(PostVersion.editor_id == user_id).values(editor_id=None),
    ):
        await session.execute(statement)
    await session.delete(user)
    await session.commit()
    log.info("Account %d is deleted: nothing of it is left", user_id)
    return False


async def deleted_accounts(session: AsyncSession) -> list[int]:
    """The accounts waiting to be emptied, oldest deletion first."""
    return list(
        await session.scalars(
            select(User.id).where(User.deleted_at.is_not(None)).order_by(User.deleted_at)
        )
    )


async def empty_account(
    db: Database,
    storage: Storage,
    exports: Storage,
    redis: aioredis.Redis | None,
    user_id: int,
) -> None:
    """Every batch of ``user_id``, one after another, under a lease (skipped if taken)."""
    lease = f"account-deletion:{user_id}"
    if redis is not None and not await redis.set(lease, "1", nx=True, ex=LEASE_SECONDS):
        return  # another worker is on it
    try:
        while True:
            async with db.session() as session:
                if not await next_step(session, storage, exports, redis, user_id):
                    return
            if redis is not None:
                await redis.expire(lease, LEASE_SECONDS)
    finally:
        if redis is not None:
            await redis.delete(lease)


async def run_account_deleter(
    db: Database,
    storage: Storage,
    exports: Storage,
    redis: aioredis.Redis | None,
    stop: asyncio.Event,
    *,
    every_seconds: float,
) -> None:
    """Empty deleted accounts until ``stop``; a failure is logged and tried again later."""
    while not stop.is_set():
        try:
            async with db.session() as session:
                waiting = await deleted_accounts(session)
            for user_id in waiting:
                if stop.is_set():
                    break
                await empty_account(db, storage, exports, redis, user_id)
        except Exception:
            log.exception("Emptying deleted accounts failed; trying again later")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_seconds)

"""Changing a username, and the old names kept from others for a while.

A profile's address is its username, and people link to it, mention it and
remember it. So a name given up is reserved for ``RESERVED_DAYS``: its
address leads to the account's new name, and nobody else can register or
take it (someone else turning up at an old, trusted address is how
impersonation starts). The account that gave it up may take it back.
"""

from __future__ import annotations

from datetime import timedelta

import redis.asyncio as aioredis
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.models.base import utcnow
from gallery.models.user import User, UsernameReservation
from gallery.services.accounts import AccountError, check_username
from gallery.services.feeds import bump_feed_version
from gallery.services.passwords import verify_password

RESERVED_DAYS = 30
TAKEN = "That username is taken."


async def reservation_of(session: AsyncSession, username: str) -> UsernameReservation | None:
    """The live reservation of ``username`` (any case), if there is one."""
    return await session.scalar(
        select(UsernameReservation).where(
            UsernameReservation.username_key == User.key_for(username),
            UsernameReservation.reserved_until > utcnow(),
        )
    )


async def renamed_to(session: AsyncSession, username: str) -> str | None:
    """The current name of the account that gave up ``username``, while it is reserved."""
    reservation = await reservation_of(session, username)
    if reservation is None or reservation.user_id is None:
        return None
    user = await session.get(User, reservation.user_id)
    return user.username if user is not None and user.is_active else None


async def is_reserved_for_another(
    session: AsyncSession, username: str, user_id: int | None
) -> bool:
    reservation = await reservation_of(session, username)
    return reservation is not None and reservation.user_id != user_id


async def rename(
    session: AsyncSession,
    redis: aioredis.Redis | None,
    user: User,
    *,
    new_username: str,
    password: str,
) -> str:
    """Give ``user`` the name ``new_username``; the old one is reserved for them.

    ``AccountError`` for a wrong password, a malformed name, or one taken or
    reserved by another account. Returns the old name.
    """
    if not await verify_password(user.password_hash, password):
        raise AccountError("The password is wrong.", "password")
    username = check_username(new_username)
    key = User.key_for(username)
    old_name, old_key = user.username, user.username_key
    if username == old_name:
        raise AccountError("That is your username already.", "username")
    holder = await session.scalar(select(User.id).where(User.username_key == key))
    if (holder is not None and holder != user.id) or await is_reserved_for_another(
        session, username, user.id
    ):
        raise AccountError(TAKEN, "username")
    # Taking back one's own reserved name ends that reservation.
    await session.execute(
        delete(UsernameReservation).where(UsernameReservation.username_key.in_({key, old_key}))
    )
    user.username = username
    user.username_key = key
    if key != old_key:
        session.add(
            UsernameReservation(
                username_key=old_key,
                user_id=user.id,
                reserved_until=utcnow() + timedelta(days=RESERVED_DAYS),
            )
        )
    try:
        await session.commit()
    except IntegrityError:  # taken between the check and the commit
        await session.rollback()
        raise AccountError(TAKEN, "username") from None
    if redis is not None:
        await bump_feed_version(redis)  # every card shows the name
    return old_name

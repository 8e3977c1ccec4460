"""Changing an account's e-mail address: confirmed by the new address, undoable by the old.

The address on the account changes only when a link mailed to the new one is
opened (48 hours, once), so signing in and password resets keep using the
confirmed address until then. The old address is then told, with a link
that takes the change back for a week: whoever changed it may have been a
thief with a stolen session, so taking it back also ends every session.

Asking for an address that another account has is answered exactly like a
free one, and nothing is sent: the form must not tell who has an account.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.sessions import SignInStore
from gallery.models.user import User
from gallery.services.accounts import AccountError, check_email, find_by_email
from gallery.services.mail import Mailer
from gallery.services.passwords import verify_password
from gallery.services.tokens import (
    TOKEN_TTL_SECONDS,
    TokenPurpose,
    consume_token_for,
    issue_token_for,
    peek_token_for,
)

TAKEN_MEANWHILE = "Another account uses that address now: the change cannot be made."


def _pending_key(user_id: int) -> str:
    return f"email-change:pending:{user_id}"


async def request_change(
    session: AsyncSession,
    redis: aioredis.Redis,
    mailer: Mailer,
    user: User,
    *,
    new_email: str,
    password: str,
) -> str:
    """Mail a confirmation link to ``new_email``; the normalised address.

    ``AccountError`` for a wrong password, a malformed address or the
    account's own one.
    """
    if not await verify_password(user.password_hash, password):
        raise AccountError("The password is wrong.", "password")
    email = check_email(new_email)
    if User.key_for(email) == user.email_key:
        raise AccountError("That is your address already.", "email")
    if await find_by_email(session, email) is None:
        token = await issue_token_for(redis, TokenPurpose.CHANGE_EMAIL, user.id, email)
        await redis.set(
            _pending_key(user.id), email, ex=TOKEN_TTL_SECONDS[TokenPurpose.CHANGE_EMAIL]
        )
        session.add(
            mailer.compose(
                email,
                "Confirm your new Gallery e-mail address",
                "email_change",
                username=user.username,
                old_email=user.email,
                new_email=email,
                link=mailer.link(f"/email/confirm/{token}"),
            )
        )
        await session.commit()
    return email


async def pending_change(redis: aioredis.Redis, user: User) -> str | None:
    """The address a confirmation link was last sent to, while it is valid."""
    value = await redis.get(_pending_key(user.id))
    return value.decode() if isinstance(value, bytes) else value


async def change_awaiting(redis: aioredis.Redis, token: str) -> str | None:
    """The new address a confirmation link would set (None if the link is dead)."""
    found = await peek_token_for(redis, TokenPurpose.CHANGE_EMAIL, token)
    return found[1] if found else None


async def confirm_change(
    session: AsyncSession, redis: aioredis.Redis, mailer: Mailer, token: str
) -> User | None:
    """Set the address the link was sent to, and tell the old one (with the undo link).

    None for a dead link; ``AccountError`` when another account took the
    address since (the link is used up either way).
    """
    found = await consume_token_for(redis, TokenPurpose.CHANGE_EMAIL, token)
    if found is None:
        return None
    user_id, email = found
    user = await session.get(User, user_id)
    if user is None:
        return None
    if await find_by_email(session, email) is not None:
        raise AccountError(TAKEN_MEANWHILE, "email")
    old_email = user.email
    user.email = email
    user.email_key = User.key_for(email)
    undo = await issue_token_for(redis, TokenPurpose.UNDO_EMAIL_CHANGE, user.id, old_email)
    session.add(
        mailer.compose(
            old_email,
            "Your Gallery e-mail address was changed",
            "email_changed",
            username=user.username,
            new_email=email,
            link=mailer.link(f"/email/undo/{undo}"),
        )
    )
    try:
        await session.commit()
    except IntegrityError:  # taken between the check and the commit
        await session.rollback()
        raise AccountError(TAKEN_MEANWHILE, "email") from None
    await redis.delete(_pending_key(user.id))
    return user


async def change_to_undo(redis: aioredis.Redis, token: str) -> str | None:
    """The old address an undo link would bring back (None if the link is dead)."""
    found = await peek_token_for(redis, TokenPurpose.UNDO_EMAIL_CHANGE, token)
    return found[1] if found else None


async def undo_change(
    session: AsyncSession, redis: aioredis.Redis, sign_ins: SignInStore, token: str
) -> User | None:
    """Bring the old address back and end every session of the account.

    None for a dead link; ``AccountError`` if another account has taken the
    old address since.
    """
    found = await consume_token_for(redis, TokenPurpose.UNDO_EMAIL_CHANGE, token)
    if found is None:
        return None
    user_id, old_email = found
    user = await session.get(User, user_id)
    if user is None:
        return None
    holder = await find_by_email(session, old_email)
    if holder is not None and holder.id != user.id:
        raise AccountError("Another account uses that address now.", "email")
    user.email = old_email
    user.email_key = User.key_for(old_email)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise AccountError("Another account uses that address now.", "email") from None
    await redis.delete(_pending_key(user.id))
    await sign_ins.revoke_all(user.id)
    return user

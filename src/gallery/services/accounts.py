"""Accounts: registration, activation, sign-in checks, password reset, administrators."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import redis.asyncio as aioredis
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.sessions import SignInStore
from gallery.models.user import Role, User
from gallery.services.mail import Mailer
from gallery.services.passwords import (
    hash_password,
    verify_password,
    waste_time_like_a_verification,
)
from gallery.services.tokens import TokenPurpose, consume_token, issue_token, peek_token

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{3,30}$")
PASSWORD_MIN_LENGTH = 8
# Argon2 takes any length, but a megabyte "password" is a denial-of-service attempt.
PASSWORD_MAX_LENGTH = 256


class AccountError(Exception):
    """A request about an account that cannot be carried out; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidCredentials(AccountError):
    pass


class InactiveAccount(AccountError):
    def __init__(self, user: User) -> None:
        super().__init__(
            "This account is not activated yet. Follow the link in the activation mail, "
            "or ask for a new one."
        )
        self.user = user


def check_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_PATTERN.fullmatch(username):
        raise AccountError(
            "Usernames are 3–30 characters: letters, digits, “_”, “.” and “-”.", "username"
        )
    return username


def check_email(email: str) -> str:
    """The normalised form of ``email``; raises if it is not a usable address."""
    try:
        # No DNS lookup: deliverability is proven by the activation mail itself.
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise AccountError(f"That is not a valid e-mail address: {exc}", "email") from exc


def check_password(password: str, field: str = "password") -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AccountError(f"Passwords need at least {PASSWORD_MIN_LENGTH} characters.", field)
    if len(password) > PASSWORD_MAX_LENGTH:
        raise AccountError(f"Passwords can have at most {PASSWORD_MAX_LENGTH} characters.", field)
    return password


async def find_by_login(session: AsyncSession, login: str) -> User | None:
    """The user whose username or e-mail is ``login`` (case-insensitively)."""
    key = User.key_for(login)
    return await session.scalar(
        select(User).where(or_(User.username_key == key, User.email_key == key))
    )


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email_key == User.key_for(email)))


async def _ensure_free(session: AsyncSession, username: str, email: str) -> None:
    taken = (
        await session.execute(
            select(User.username_key, User.email_key).where(
                or_(
                    User.username_key == User.key_for(username),
                    User.email_key == User.key_for(email),
                )
            )
        )
    ).all()
    for username_key, email_key in taken:
        if username_key == User.key_for(username):
            raise AccountError("That username is taken.", "username")
        if email_key == User.key_for(email):
            raise AccountError("An account with that e-mail address exists already.", "email")


async def _new_user(
    session: AsyncSession, username: str, email: str, password: str, *, active: bool, role: int
) -> User:
    """A new account added to the session (not yet flushed), once the names are known free."""
    await _ensure_free(session, username, email)
    user = User(
        username=username,
        username_key=User.key_for(username),
        email=email,
        email_key=User.key_for(email),
        password_hash=await hash_password(password),
        is_active=active,
        activated_at=datetime.now(UTC) if active else None,
        permissions=int(role),
    )
    session.add(user)
    return user


async def queue_activation_mail(
    session: AsyncSession, redis: aioredis.Redis, mailer: Mailer, user: User
) -> None:
    token = await issue_token(redis, TokenPurpose.ACTIVATE, user.id)
    session.add(
        mailer.compose(
            user.email,
            "Activate your Gallery account",
            "activate",
            username=user.username,
            link=mailer.link(f"/activate/{token}"),
        )
    )


async def register(
    session: AsyncSession,
    redis: aioredis.Redis,
    mailer: Mailer,
    *,
    username: str,
    email: str,
    password: str,
) -> User:
    """Create an inactive account and queue its activation mail in the same transaction."""
    username = check_username(username)
    email = check_email(email)
    check_password(password)
    user = await _new_user(session, username, email, password, active=False, role=Role.USER)
    try:
        await session.flush()  # the id, for the token
        await queue_activation_mail(session, redis, mailer, user)
        await session.commit()
    except IntegrityError as exc:
        # Two registrations raced past the check above; the index decided.
        await session.rollback()
        await _ensure_free(session, username, email)
        raise AccountError("That username or e-mail address was just taken.") from exc
    return user


async def activate(session: AsyncSession, redis: aioredis.Redis, token: str) -> User | None:
    """Activate the account the token was issued for; None if the token is unknown or used."""
    user_id = await consume_token(redis, TokenPurpose.ACTIVATE, token)
    if user_id is None:
        return None
    user = await session.get(User, user_id)
    if user is None:
        return None
    if not user.is_active:
        user.is_active = True
        user.activated_at = datetime.now(UTC)
        await session.commit()
    return user


async def resend_activation(
    session: AsyncSession, redis: aioredis.Redis, mailer: Mailer, email: str
) -> bool:
    """Queue a fresh activation mail if an inactive account has that address.

    Returns whether a mail was queued; callers show the same message either way
    so the form does not reveal who has an account.
    """
    user = await find_by_email(session, email)
    if user is None or user.is_active:
        return False
    await queue_activation_mail(session, redis, mailer, user)
    await session.commit()
    return True


async def authenticate(session: AsyncSession, login: str, password: str) -> User:
    """The user with these credentials; raises ``InvalidCredentials`` or ``InactiveAccount``."""
    user = await find_by_login(session, login) if login.strip() else None
    if user is None:
        await waste_time_like_a_verification(password)
        raise InvalidCredentials("Wrong username, e-mail address or password.")
    if not await verify_password(user.password_hash, password):
        raise InvalidCredentials("Wrong username, e-mail address or password.")
    if not user.is_active:
        raise InactiveAccount(user)
    return user


async def request_password_reset(
    session: AsyncSession, redis: aioredis.Redis, mailer: Mailer, email: str
) -> bool:
    """Queue a reset mail (link valid 1 h, once) if an account has that address."""
    user = await find_by_email(session, email)
    if user is None:
        return False
    token = await issue_token(redis, TokenPurpose.RESET_PASSWORD, user.id)
    session.add(
        mailer.compose(
            user.email,
            "Reset your Gallery password",
            "reset_password",
            username=user.username,
            link=mailer.link(f"/password/reset/{token}"),
        )
    )
    await session.commit()
    return True


async def reset_token_is_valid(redis: aioredis.Redis, token: str) -> bool:
    return await peek_token(redis, TokenPurpose.RESET_PASSWORD, token) is not None


async def reset_password(
    session: AsyncSession,
    redis: aioredis.Redis,
    sign_ins: SignInStore,
    token: str,
    new_password: str,
) -> User | None:
    """Set a new password with a reset token and end every session of that user.

    The token is checked before it is used up, so a too-short password can be
    corrected without asking for a new mail. Returns None for a bad token.
    """
    check_password(new_password)
    user_id = await consume_token(redis, TokenPurpose.RESET_PASSWORD, token)
    if user_id is None:
        return None
    user = await session.get(User, user_id)
    if user is None:
        return None
    await _set_password(session, user, new_password)
    # Whoever could read the mailbox proved they own the address.
    if not user.is_active:
        user.is_active = True
        user.activated_at = datetime.now(UTC)
    await session.commit()
    await sign_ins.revoke_all(user.id)
    return user


async def _set_password(session: AsyncSession, user: User, new_password: str) -> None:
    user.password_hash = await hash_password(new_password)
    user.password_changed_at = datetime.now(UTC)


async def change_password(
    session: AsyncSession,
    sign_ins: SignInStore,
    user: User,
    *,
    current_password: str,
    new_password: str,
    keep_sign_in_token: str | None,
) -> int:
    """Change a signed-in user's password; every *other* session ends. Returns how many."""
    if not await verify_password(user.password_hash, current_password):
        raise AccountError("The current password is wrong.", "current_password")
    check_password(new_password, "new_password")
    await _set_password(session, user, new_password)
    await session.commit()
    return await sign_ins.revoke_all(user.id, keep_token=keep_sign_in_token)


async def create_admin(session: AsyncSession, *, username: str, email: str, password: str) -> User:
    """An active administrator account (for ``gallery create-admin``)."""
    username = check_username(username)
    email = check_email(email)
    check_password(password)
    user = await _new_user(session, username, email, password, active=True, role=Role.ADMINISTRATOR)
    await session.commit()
    return user

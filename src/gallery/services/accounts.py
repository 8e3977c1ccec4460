"""Accounts: registration, activation, sign-in checks, password reset, administrators.

The public forms never tell a stranger whether an e-mail address has an
account: sign-in, activation and reset answer the same either way, and so does
registration (``sign_up``): a taken address gets the same answer as a free
one, and its owner a mail saying someone tried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import redis.asyncio as aioredis
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.infra.sessions import SignInStore
from gallery.models.user import Role, User, UsernameReservation
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


class UsernameTaken(AccountError):
    def __init__(self) -> None:
        super().__init__("That username is taken.", "username")


class EmailTaken(AccountError):
    """The address belongs to ``owner``: for tools (create-admin), never shown on a public form."""

    def __init__(self, owner: User) -> None:
        super().__init__("An account with that e-mail address exists already.", "email")
        self.owner = owner


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
    """The user whose username or e-mail is ``login`` (any case, surrounding spaces ignored).

    Usernames cannot contain "@", so a login never matches two accounts.
    """
    key = User.key_for(login)
    if not key:
        return None
    return await session.scalar(
        select(User).where(
            or_(User.username_key == key, User.email_key == key), User.deleted_at.is_(None)
        )
    )


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    """The account with that address; a deleted one (being emptied) is no account."""
    return await session.scalar(
        select(User).where(User.email_key == User.key_for(email), User.deleted_at.is_(None))
    )


def sign_in_attempts_key(account: User | None, login: str) -> str:
    """Whose sign-in attempts one attempt with ``login`` adds to.

    The account's, whatever identifies it (username or e-mail, any case or
    spacing), so typing it differently buys no extra guesses; a login that
    matches no account counts under its normalised text, so probing unknown
    names is limited the same way (and answered the same way).
    """
    if account is not None:
        return f"account:{account.id}"
    return f"unknown:{User.key_for(login)}"


async def _ensure_free(session: AsyncSession, username: str, email: str) -> None:
    """Raise ``UsernameTaken`` or ``EmailTaken``.

    The username is checked first, over every holder: usernames are public, so
    saying one is taken reveals nothing, while a taken e-mail address must stay
    unsaid on the public form even when the username is taken too.
    """
    username_key, email_key = User.key_for(username), User.key_for(email)
    holders = list(
        await session.scalars(
            select(User).where(or_(User.username_key == username_key, User.email_key == email_key))
        )
    )
    if any(holder.username_key == username_key for holder in holders):
        raise UsernameTaken()
    # A name another account gave up lately is theirs for a while (services/usernames.py).
    reserved = await session.scalar(
        select(UsernameReservation.id).where(
            UsernameReservation.username_key == username_key,
            UsernameReservation.reserved_until > datetime.now(UTC),
        )
    )
    if reserved is not None:
        raise UsernameTaken()
    owner = next((holder for holder in holders if holder.email_key == email_key), None)
    if owner is not None:
        raise EmailTaken(owner)


async def _new_user(
    session: AsyncSession, username: str, email: str, password: str, *, active: bool, role: int
) -> User:
    """A new account added to the session (not yet flushed), once the names are known free.

    The password is hashed before the names are checked, so a registration
    costs one Argon2 hash whether or not they were free: the response time does
    not tell a taken e-mail address from a free one.
    """
    password_hash = await hash_password(password)
    await _ensure_free(session, username, email)
    user = User(
        username=username,
        username_key=User.key_for(username),
        email=email,
        email_key=User.key_for(email),
        password_hash=password_hash,
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
    """Create an inactive account and queue its activation mail in the same transaction.

    Raises ``UsernameTaken`` or ``EmailTaken`` (the username first) for names
    that have an account: for tools and tests, which must know. The public
    form calls ``sign_up``, which does not reveal a taken e-mail address.
    """
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


@dataclass(frozen=True)
class SignUp:
    """What the registration form tells its sender: the same whether or not the address was free."""

    username: str
    email: str


# At most one "someone tried to register" mail per account in this long: the
# first says all there is to say, and more would let strangers flood the
# owner's inbox through us from many addresses.
REGISTRATION_ATTEMPT_MAIL_SECONDS = 3600
REGISTRATION_ATTEMPT_MAIL_PREFIX = "registration-attempt-mail:"


async def sign_up(
    session: AsyncSession,
    redis: aioredis.Redis,
    mailer: Mailer,
    *,
    username: str,
    email: str,
    password: str,
) -> SignUp:
    """The public registration form: ``register``, without revealing a taken e-mail address.

    When the address already has an account, nothing is created and no
    activation mail is sent; its owner is mailed that someone tried (what to
    do: sign in, or reset the password; or ignore it), and the caller gets the
    same answer as for a new account, so the form cannot be used to find out
    who is registered. A taken username is still refused: usernames are public.
    Bad input is refused as by ``register``.
    """
    username = check_username(username)
    email = check_email(email)
    check_password(password)
    try:
        await register(session, redis, mailer, username=username, email=email, password=password)
    except EmailTaken as taken:
        await queue_registration_attempt_mail(session, redis, mailer, taken.owner)
    return SignUp(username=username, email=email)


async def queue_registration_attempt_mail(
    session: AsyncSession, redis: aioredis.Redis, mailer: Mailer, owner: User
) -> bool:
    """Tell ``owner`` that someone tried to register with their address (once an hour at most).

    Returns whether a mail was queued. The mail goes through the outbox like
    every other, committed here.
    """
    first_this_hour = await redis.set(
        f"{REGISTRATION_ATTEMPT_MAIL_PREFIX}{owner.id}",
        1,
        nx=True,
        ex=REGISTRATION_ATTEMPT_MAIL_SECONDS,
    )
    if not first_this_hour:
        return False
    # The forms fill the address in from ?email= (as the sign-in page's links do).
    prefilled = "?" + urlencode({"email": owner.email})
    session.add(
        mailer.compose(
            owner.email,
            "Someone tried to register with your e-mail address",
            "registration_attempt",
            username=owner.username,
            active=owner.is_active,
            sign_in_link=mailer.link("/login"),
            reset_link=mailer.link("/password/forgot" + prefilled),
            resend_link=mailer.link("/activate/resend" + prefilled),
        )
    )
    try:
        await session.commit()
    except BaseException:
        # No mail queued: the next attempt may try again.
        await redis.delete(f"{REGISTRATION_ATTEMPT_MAIL_PREFIX}{owner.id}")
        raise
    return True


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
    return await check_sign_in(await find_by_login(session, login), password)


async def check_sign_in(account: User | None, password: str) -> User:
    """``account`` if ``password`` is its password and it may sign in; else raise.

    ``account`` is what ``find_by_login`` found (None: no account matched);
    the sign-in page looks it up first to count the attempt against it. With no
    account a dummy hash is verified, so an unknown name costs the same time
    and gets the same ``InvalidCredentials`` as a wrong password.
    """
    if account is None:
        await waste_time_like_a_verification(password)
        raise InvalidCredentials("Wrong username, e-mail address or password.")
    if not await verify_password(account.password_hash, password):
        raise InvalidCredentials("Wrong username, e-mail address or password.")
    if not account.is_active:
        raise InactiveAccount(account)
    return account


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

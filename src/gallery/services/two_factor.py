"""Two-factor sign-in with an authenticator app (TOTP, RFC 6238) and recovery codes.

Turning it on takes two steps: a new secret is shown (a QR code drawn here,
as SVG, and the same secret as text), and a code the app then makes proves
the app has it; only then is the secret kept, and ten single-use recovery
codes are made and shown once. From then on a password sign-in is only half
of one: the sign-in page asks for a code of the app, or a recovery code,
before the session starts (web/auth.py). A reset password by mail does not
sign in, so it does not get around this. Turning it off needs the password
and a current code.

A code is accepted for the 30-second step it was made in, or one either side
(clocks differ), and never twice: the last accepted step is kept, and a code
of that step or an earlier one is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import segno
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.models.base import utcnow
from gallery.models.user import RecoveryCode, User
from gallery.services.errors import InvalidInput, PermissionDenied
from gallery.services.passwords import verify_password

ISSUER = "Gallery"
CODE_DIGITS = 6
# Steps accepted either side of now: a phone's clock a little off still works.
STEPS_OF_SLACK = 1
RECOVERY_CODE_COUNT = 10
# Ten characters of base32 (50 bits), shown as two groups of five.
RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
RECOVERY_CODE_LENGTH = 10

WRONG_CODE = "That code is not right (or was used already). Try the newest one from your app."


@dataclass(frozen=True)
class Enrolment:
    """A secret offered to an authenticator app, not kept until a code proves it."""

    secret: str
    uri: str
    qr_data_uri: str


def new_enrolment(user: User, secret: str | None = None) -> Enrolment:
    """A fresh secret (or ``secret`` again, to show it once more) and how to enrol it."""
    secret = secret or pyotp.random_base32(32)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    # An <img> of an SVG data URI: allowed by the CSP (img-src data:), and no
    # third party ever sees the secret.
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#14161f")
    return Enrolment(secret=secret, uri=uri, qr_data_uri=qr)


def _digits(code: str) -> str:
    return "".join(character for character in code if not character.isspace())


def matching_step(secret: str, code: str, last_step: int, now: float | None = None) -> int | None:
    """The step ``code`` was made in, if it is one of now's (give or take one) and
    later than ``last_step``; None otherwise."""
    code = _digits(code)
    if len(code) != CODE_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(_as_datetime(now))
    for step in range(current - STEPS_OF_SLACK, current + STEPS_OF_SLACK + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _as_datetime(now: float | None) -> datetime:
    return datetime.fromtimestamp(time.time() if now is None else now, UTC)


def normalise_recovery_code(code: str) -> str:
    return "".join(character for character in code.lower() if character.isalnum())


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(normalise_recovery_code(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    letters = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return f"{letters[:5]}-{letters[5:]}"


async def _replace_recovery_codes(session: AsyncSession, user: User) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(
        RecoveryCode(user_id=user.id, code_hash=hash_recovery_code(code)) for code in codes
    )
    return codes


async def enable(session: AsyncSession, user: User, secret: str, code: str) -> list[str]:
    """Keep ``secret`` once ``code`` proves the app has it; the new recovery codes.

    ``InvalidInput`` (field ``code``) when the code does not match: nothing changes.
    """
    step = matching_step(secret, code, last_step=0)
    if step is None:
        raise InvalidInput(WRONG_CODE, field="code")
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step
    codes = await _replace_recovery_codes(session, user)
    await session.commit()
    return codes


async def check_code(session: AsyncSession, user: User, code: str) -> None:
    """Accept a code of the app or an unused recovery code (which is then used up).

    ``InvalidInput`` (field ``code``) otherwise. The accepted step or the used
    code is committed before returning, so the same code never works twice,
    even in two requests at once (the step moves in one conditional UPDATE).
    """
    if not user.has_two_factor or not user.totp_secret:
        raise PermissionDenied("Two-factor sign-in is not on for this account.")
    step = matching_step(user.totp_secret, code, user.totp_last_step)
    if step is not None:
        moved = await session.execute(
            update(User)
            .where(User.id == user.id, User.totp_last_step < step)
            .values(totp_last_step=step)
        )
        await session.commit()
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            user.totp_last_step = step
            return
        raise InvalidInput(WRONG_CODE, field="code")
    used = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == hash_recovery_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    await session.commit()
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidInput(WRONG_CODE, field="code")


async def disable(session: AsyncSession, user: User, *, password: str, code: str) -> None:
    """Turn two-factor sign-in off: the password and a current code (or recovery code)."""
    if not await verify_password(user.password_hash, password):
        raise InvalidInput("The password is wrong.", field="password")
    await check_code(session, user, code)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = 0
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    await session.commit()


async def new_recovery_codes(
    session: AsyncSession, user: User, *, password: str, code: str
) -> list[str]:
    """Ten new recovery codes, the old ones void: the password and a current code."""
    if not await verify_password(user.password_hash, password):
        raise InvalidInput("The password is wrong.", field="password")
    await check_code(session, user, code)
    codes = await _replace_recovery_codes(session, user)
    await session.commit()
    return codes


async def unused_recovery_codes(session: AsyncSession, user: User) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )

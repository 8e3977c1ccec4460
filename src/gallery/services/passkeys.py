"""Passkeys: signing in with a WebAuthn credential instead of a password.

Both ceremonies run in two steps. The server makes options with a fresh
random challenge (kept by the caller, in the server-side session, for one
answer); the browser has the authenticator sign it; the server then checks
the answer with py_webauthn: the challenge, the origin and relying party
(this site, as the browser reached it), the signature, and that the person
was verified on the device (a PIN, a fingerprint). A passkey verified so is
two factors in one, so signing in with it skips the authenticator-app code.

Passkeys are discoverable ("resident"): the sign-in page asks for any passkey
of this site, and the answer names the credential, hence the account.
"""

from __future__ import annotations

import asyncio
import importlib
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.models.base import utcnow
from gallery.models.user import Passkey, User
from gallery.services.errors import InvalidInput, NotFoundError, PermissionDenied
from gallery.services.validation import bounded_text

NAME_MAX_LENGTH = 60
MAX_PASSKEYS = 20
CREDENTIAL_ID_MAX_LENGTH = 255
# How long the browser may take (the person finding their key, say), in ms.
CEREMONY_TIMEOUT_MS = 120_000
SITE_NAME = "Gallery"

NOT_ACCEPTED = "That passkey was not accepted. Try again, or sign in with your password."


@dataclass(frozen=True)
class RelyingParty:
    """The site as the browser reached it: ``id`` its host name, ``origin`` scheme://host[:port]."""

    id: str
    origin: str


@dataclass(frozen=True)
class Ceremony:
    """Options for the browser (JSON) and the challenge its answer must sign."""

    options_json: str
    challenge: bytes


def bytes_to_base64url(value: bytes) -> str:
    """Base64url without padding, as WebAuthn's JSON writes binary fields."""
    return urlsafe_b64encode(value).decode("ascii").rstrip("=")


def base64url_to_bytes(value: str) -> bytes:
    """The inverse of ``bytes_to_base64url`` (padding optional; extra is ignored)."""
    return urlsafe_b64decode(f"{value}===")


_py_webauthn_loaded = False


async def _load_py_webauthn() -> None:
    """Import py_webauthn on first use, in a thread.

    With pyOpenSSL and the rest of cryptography's bindings it costs a process
    about 13 MiB and its import ~0.1 s of CPU: every web worker would pay for
    ceremonies most of them never run, and an import on the event loop would
    stall every request of that worker meanwhile. The functions below then
    import its names from ``sys.modules``, which is only a lookup.

    The flag, not ``sys.modules``, says when that is: a module is listed there
    from the start of its import, and a ``from webauthn import …`` on the event
    loop while another thread is still importing it would wait for that thread.
    Callers who come meanwhile each wait in a thread of their own instead.
    """
    global _py_webauthn_loaded
    if not _py_webauthn_loaded:
        await asyncio.to_thread(importlib.import_module, "webauthn")
        _py_webauthn_loaded = True


def check_name(name: str | None) -> str:
    return bounded_text(
        name,
        what="passkey's name",
        field="name",
        max_length=NAME_MAX_LENGTH,
        missing="Name the passkey (the device or password manager that keeps it).",
    )


async def passkeys_of(session: AsyncSession, user: User) -> list[Passkey]:
    return list(
        await session.scalars(
            select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.id)
        )
    )


async def registration_ceremony(session: AsyncSession, user: User, site: RelyingParty) -> Ceremony:
    """Options to make a new passkey for ``user`` (not again on a device that has one)."""
    existing = await passkeys_of(session, user)
    if len(existing) >= MAX_PASSKEYS:
        raise InvalidInput(f"You have {MAX_PASSKEYS} passkeys: remove one first.", field="name")
    await _load_py_webauthn()
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        PublicKeyCredentialDescriptor,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=site.id,
        rp_name=SITE_NAME,
        user_id=user.id.to_bytes(8, "big"),
        user_name=user.username,
        user_display_name=user.shown_name,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(key.credential_id))
            for key in existing
        ],
    )
    return Ceremony(options_to_json(options), challenge)


async def register(
    session: AsyncSession,
    user: User,
    site: RelyingParty,
    challenge: bytes,
    credential: object,
    name: str | None,
) -> Passkey:
    """Keep the passkey the browser made, once its answer checks out."""
    name = check_name(name)
    await _load_py_webauthn()
    from webauthn import verify_registration_response

    try:
        verified = verify_registration_response(
            credential=credential,  # type: ignore[arg-type]
            expected_challenge=challenge,
            expected_rp_id=site.id,
            expected_origin=site.origin,
            require_user_verification=True,
        )
    # Whatever a malformed answer makes the parser raise, it is a refusal.
    except Exception as error:
        raise InvalidInput(
            f"The passkey could not be added: {_reason(error)}", field="credential"
        ) from error
    credential_id = bytes_to_base64url(verified.credential_id)
    if len(credential_id) > CREDENTIAL_ID_MAX_LENGTH:
        raise InvalidInput(
            "This authenticator's passkey id is longer than Gallery keeps.", field="credential"
        )
    passkey = Passkey(
        user_id=user.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
    )
    session.add(passkey)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise InvalidInput("That passkey is added already.", field="credential") from None
    return passkey


async def authentication_ceremony(site: RelyingParty) -> Ceremony:
    """Options to sign in with any passkey of this site (the answer says whose)."""
    await _load_py_webauthn()
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import UserVerificationRequirement

    challenge = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=site.id,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return Ceremony(options_to_json(options), challenge)


async def authenticate(
    session: AsyncSession, site: RelyingParty, challenge: bytes, credential: object
) -> User:
    """The active account whose passkey signed ``challenge``; ``PermissionDenied`` otherwise.

    Every refusal reads the same, so the answer does not say which passkeys exist.
    """
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    passkey = (
        await session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))
        if isinstance(credential_id, str)
        else None
    )
    if passkey is None:
        raise PermissionDenied(NOT_ACCEPTED)
    await _load_py_webauthn()
    from webauthn import verify_authentication_response

    try:
        verified = verify_authentication_response(
            credential=credential,  # type: ignore[arg-type]
            expected_challenge=challenge,
            expected_rp_id=site.id,
            expected_origin=site.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except Exception as error:
        raise PermissionDenied(NOT_ACCEPTED) from error
    user = await session.get(User, passkey.user_id)
    if user is None or not user.is_active:
        raise PermissionDenied(NOT_ACCEPTED)
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = utcnow()
    await session.commit()
    return user


async def _own_passkey(session: AsyncSession, user: User, passkey_id: int) -> Passkey:
    passkey = await session.get(Passkey, passkey_id)
    if passkey is None or passkey.user_id != user.id:
        raise NotFoundError("You have no passkey with that id.")
    return passkey


async def rename(session: AsyncSession, user: User, passkey_id: int, name: str | None) -> Passkey:
    passkey = await _own_passkey(session, user, passkey_id)
    passkey.name = check_name(name)
    await session.commit()
    return passkey


async def remove(session: AsyncSession, user: User, passkey_id: int) -> None:
    await session.delete(await _own_passkey(session, user, passkey_id))
    await session.commit()


def _reason(error: Exception) -> str:
    """What py_webauthn says went wrong, for the person (its messages are plain)."""
    return str(error) or "the browser's answer could not be read"

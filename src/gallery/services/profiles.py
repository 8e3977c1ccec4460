"""What people say of themselves: display name, bio, website, avatar; and the colour mode.

A profile's words are shown on every card, comment and notice of its owner,
so a change moves the feed version (the cached pages carry them). The avatar
goes through the photos' pipeline (decoded, oriented, stripped of every
metadata block) and is stored in ``AVATAR_SIZES``; until there is one, a
generated avatar stands in (services/avatars.py).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession

from gallery import imaging
from gallery.infra.storage import Storage, new_stem
from gallery.models.user import AVATAR_SIZES, Theme, User, avatar_file_key
from gallery.services import storage as stored_files
from gallery.services.errors import InvalidInput
from gallery.services.feeds import bump_feed_version
from gallery.services.images import in_imaging_process, storing
from gallery.services.permissions import require_permission

DISPLAY_NAME_MAX_LENGTH = 50
BIO_MAX_LENGTH = 300
WEBSITE_MAX_LENGTH = 200


@dataclass(frozen=True)
class ProfileText:
    display_name: str | None
    bio: str | None
    website: str | None


def _without_controls(text: str, *, keep_newlines: bool) -> str:
    """``text`` in NFC with control and format characters (bidi overrides,
    zero-width joiners aside) removed: they would let a name pose as another."""
    kept = []
    for character in unicodedata.normalize("NFC", text):
        if character == "\n" and keep_newlines:
            kept.append(character)
            continue
        category = unicodedata.category(character)
        if category == "Cc" or (category == "Cf" and character != "\u200d"):
            continue
        kept.append(character)
    return "".join(kept)


def check_display_name(value: str | None) -> str | None:
    """The display name trimmed, one line, at most 50 characters; None when empty."""
    text = " ".join(_without_controls(value or "", keep_newlines=False).split())
    if len(text) > DISPLAY_NAME_MAX_LENGTH:
        raise InvalidInput(
            f"The display name is too long: at most {DISPLAY_NAME_MAX_LENGTH} characters.",
            field="display_name",
        )
    return text or None


def check_bio(value: str | None) -> str | None:
    """The bio trimmed, at most 300 characters and two blank lines in a row; None when empty."""
    text = _without_controls((value or "").replace("\r\n", "\n"), keep_newlines=True).strip()
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    if len(text) > BIO_MAX_LENGTH:
        raise InvalidInput(
            f"The bio is too long: at most {BIO_MAX_LENGTH} characters.", field="bio"
        )
    return text or None


def check_website(value: str | None) -> str | None:
    """One http or https address (``example.com`` is read as https); None when empty.

    Any other scheme (``javascript:``, ``data:``, ``ftp:``) is refused: the
    address becomes a link on the profile.
    """
    text = (value or "").strip()
    if not text:
        return None
    if "://" not in text and ":" not in text.split("/", 1)[0]:
        text = "https://" + text
    message = "The website must be a web address starting with http:// or https://."
    if any(character.isspace() or ord(character) < 32 for character in text):
        raise InvalidInput(message, field="website")
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise InvalidInput(message, field="website") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        raise InvalidInput(message, field="website")
    if len(text) > WEBSITE_MAX_LENGTH:
        raise InvalidInput(
            f"The website address is too long: at most {WEBSITE_MAX_LENGTH} characters.",
            field="website",
        )
    return text


def check_profile(display_name: str | None, bio: str | None, website: str | None) -> ProfileText:
    """All three fields checked; the first bad one raises ``InvalidInput`` naming its field."""
    return ProfileText(
        display_name=check_display_name(display_name),
        bio=check_bio(bio),
        website=check_website(website),
    )


async def update_profile(
    session: AsyncSession, redis: aioredis.Redis | None, user: User, text: ProfileText
) -> None:
    """Store the checked profile; the cached pages show the new name at once.

    A locked account cannot (``AccountLocked``): its words stay as the
    moderators found them.
    """
    require_permission(user)
    name_changed = user.display_name != text.display_name
    user.display_name = text.display_name
    user.bio = text.bio
    user.website = text.website
    await session.commit()
    if name_changed and redis is not None:
        await bump_feed_version(redis)


async def set_avatar(
    session: AsyncSession,
    storage: Storage,
    redis: aioredis.Redis | None,
    user: User,
    data: bytes,
    crop: imaging.SquareCrop | None,
) -> None:
    """Make ``data`` the avatar: the ``crop`` square (the centre when None) in every size.

    ``Rejected`` (415/422, or 400 for a square outside the photo) leaves the
    old avatar. The new files are written and the row pointed at them in one
    step (``images.storing``); the old files are removed after that commit.
    A locked account cannot change it (``AccountLocked``); it can remove it.
    """
    require_permission(user)
    files_by_size = await in_imaging_process(imaging.process_avatar, data, crop, AVATAR_SIZES)
    extension = files_by_size[AVATAR_SIZES[0]].extension
    avatar_key = f"{new_stem()}_avatar.{extension}"
    files = {avatar_file_key(avatar_key, size): file.data for size, file in files_by_size.items()}
    old_keys = user.avatar_keys
    async with storing(session, storage, files):
        user.avatar_key = avatar_key
        removals = stored_files.record_deletes(session, old_keys)
    await stored_files.remove_files(session, storage, removals)
    if redis is not None:
        await bump_feed_version(redis)


async def remove_avatar(
    session: AsyncSession, storage: Storage, redis: aioredis.Redis | None, user: User
) -> None:
    """Back to the generated avatar; the stored files are removed (through the ledger)."""
    if not user.avatar_key:
        return
    removals = stored_files.record_deletes(session, user.avatar_keys)
    user.avatar_key = None
    await session.commit()
    await stored_files.remove_files(session, storage, removals)
    if redis is not None:
        await bump_feed_version(redis)


def check_theme(value: str | None) -> Theme:
    """The colour mode named ``value``; ``InvalidInput`` for anything else."""
    try:
        return Theme(value or "")
    except ValueError:
        raise InvalidInput(
            "Choose the light or dark mode, or to follow your system.", field="theme"
        ) from None


async def set_theme(session: AsyncSession, user: User, theme: Theme) -> None:
    user.theme = theme
    await session.commit()

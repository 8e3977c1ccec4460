"""Accounts, and the permission bits that roles are made of."""

from __future__ import annotations

from datetime import datetime
from enum import IntFlag, StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from gallery.models.base import Base, UTCDateTime, exact_string, utcnow


class Permission(IntFlag):
    FOLLOW = 1
    COMMENT = 2
    UPLOAD = 4
    MODERATE = 8
    ADMINISTER = 16


class Role:
    """Roles are named sets of permission bits."""

    USER = Permission.FOLLOW | Permission.COMMENT | Permission.UPLOAD
    MODERATOR = USER | Permission.MODERATE
    ADMINISTRATOR = MODERATOR | Permission.ADMINISTER

    # The names ``gallery set-role`` and the admin pages accept, lowest first.
    NAMES = ("user", "moderator", "administrator")

    @classmethod
    def name_of(cls, permissions: int) -> str:
        if permissions & Permission.ADMINISTER:
            return "administrator"
        if permissions & Permission.MODERATE:
            return "moderator"
        return "user"

    @classmethod
    def bits_of(cls, name: str) -> Permission:
        """The permission bits of a role name (``admin`` is short for administrator)."""
        bits = {
            "user": cls.USER,
            "moderator": cls.MODERATOR,
            "administrator": cls.ADMINISTRATOR,
            "admin": cls.ADMINISTRATOR,
        }.get(name.strip().lower())
        if bits is None:
            raise ValueError(f"unknown role {name!r}")
        return bits


class Theme(StrEnum):
    """The colour mode a person chose for the site (Bootstrap's colour modes)."""

    AUTO = "auto"  # follow the system's light or dark setting
    LIGHT = "light"
    DARK = "dark"


# The avatar's stored sizes in pixels: 32, 64 and 160 as shown, and each at 2×.
AVATAR_SIZES = (32, 64, 128, 160, 320)


def avatar_file_key(avatar_key: str, size: int) -> str:
    """The key of one size of an avatar: "<stem>_avatar.jpg" → "<stem>_avatar64.jpg"."""
    root, dot, extension = avatar_key.rpartition(".")
    return f"{root}{size}{dot}{extension}"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(30))
    # Lower-cased copies carry the unique indexes, so uniqueness ignores case
    # identically on MariaDB and SQLite (and lookups stay index-only).
    username_key: Mapped[str] = mapped_column(exact_string(30), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(exact_string(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    permissions: Mapped[int] = mapped_column(Integer, default=int(Role.USER))
    # The stored avatar's key pattern ("<stem>_avatar{size}.<ext>", one file per
    # size in services/profiles.AVATAR_SIZES); None shows a generated one.
    avatar_key: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # A locked account can sign in and browse but do nothing else (services/permissions.py).
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lock_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    # The viewer's setting: photos marked sensitive are shown unblurred.
    show_sensitive: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Moves on with every save and unsave: part of the key of this viewer's
    # overlay on cached feed pages (web/feed_pages.py), and 0 for someone who
    # never saved anything (no saves query at all then).
    saves_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Moves on with every mute, unmute, block and unblock (a block moves both
    # sides'): part of the same overlay's key, and 0 for someone never in one
    # (no query for whom they are spared then).
    relations_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A private account's posts are seen by its followers only, and following
    # it takes the owner's yes (a follow request; services/privacy.py).
    is_private: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # What the person says of themselves (services/profiles.py checks each).
    display_name: Mapped[str | None] = mapped_column(String(50), default=None)
    bio: Mapped[str | None] = mapped_column(String(300), default=None)
    website: Mapped[str | None] = mapped_column(String(200), default=None)
    theme: Mapped[str] = mapped_column(String(8), default=Theme.AUTO, server_default=Theme.AUTO)
    # Two-factor sign-in with an authenticator app (services/two_factor.py): its
    # shared secret (base32), since when, and the last 30-second step a code was
    # accepted for, so that no code works twice.
    totp_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The kinds of notice (NotificationKind values, comma-separated) the person
    # turned off: they are not made at all (services/notifications.py). None: all on.
    notices_off: Mapped[str | None] = mapped_column(String(120), default=None)
    # Set when the account is deleted: hidden and inactive from then on, while
    # the worker empties it (services/deletion.py) and finally removes the row.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @staticmethod
    def key_for(text: str) -> str:
        """The case-insensitive key of a username or e-mail address."""
        return text.strip().casefold()

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    def has_bits(self, permission: Permission) -> bool:
        """Whether the role carries ``permission``, locked or not (for who-outranks-whom)."""
        return (self.permissions & permission) == permission

    def can(self, permission: Permission) -> bool:
        """Whether the account may act with ``permission`` now: active, unlocked, and the bits."""
        return self.is_active and not self.is_locked and self.has_bits(permission)

    @property
    def has_two_factor(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def avatar_keys(self) -> list[str]:
        """Every stored file of the avatar (none while the generated one is shown)."""
        if not self.avatar_key:
            return []
        return [avatar_file_key(self.avatar_key, size) for size in AVATAR_SIZES]

    @property
    def shown_name(self) -> str:
        """The name to show: the display name when there is one, else the username."""
        return self.display_name or self.username

    @property
    def role_name(self) -> str:
        return Role.name_of(self.permissions)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


class RecoveryCode(Base):
    """One of the ten single-use codes that stand in for the authenticator app.

    Only a SHA-256 of the code is kept: the codes are random (50 bits), so a
    fast hash is enough, and the codes are shown once, when made.
    """

    __tablename__ = "recovery_codes"
    __table_args__ = (Index("ix_recovery_codes_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(exact_string(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Passkey(Base):
    """A WebAuthn credential that signs its owner in without a password (services/passkeys.py).

    ``credential_id`` is the authenticator's id for it, base64url (at most
    255 characters, which every authenticator in use keeps well within);
    ``public_key`` the COSE key that checks its signatures; ``sign_count``
    the authenticator's counter, which must move on (a cloned key would not).
    """

    __tablename__ = "passkeys"
    __table_args__ = (Index("ix_passkeys_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    credential_id: Mapped[str] = mapped_column(exact_string(255), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class UsernameReservation(Base):
    """A name an account gave up, kept from others for a while (services/usernames.py).

    While it lasts, the old profile address leads to the account's new one
    (``user_id``), and nobody else may take the name: links and mentions of
    the old name must not start pointing at a stranger.
    """

    __tablename__ = "username_reservations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username_key: Mapped[str] = mapped_column(exact_string(30), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reserved_until: Mapped[datetime] = mapped_column(UTCDateTime)

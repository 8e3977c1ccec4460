"""Accounts, and the permission bits that roles are made of."""

from __future__ import annotations

from datetime import datetime
from enum import IntFlag

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gallery.infra.db import Base, UTCDateTime, exact_string, utcnow


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

    @classmethod
    def name_of(cls, permissions: int) -> str:
        if permissions & Permission.ADMINISTER:
            return "administrator"
        if permissions & Permission.MODERATE:
            return "moderator"
        return "user"


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
    avatar_key: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @staticmethod
    def key_for(text: str) -> str:
        """The case-insensitive key of a username or e-mail address."""
        return text.strip().casefold()

    def can(self, permission: Permission) -> bool:
        return (self.permissions & permission) == permission

    @property
    def role_name(self) -> str:
        return Role.name_of(self.permissions)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"

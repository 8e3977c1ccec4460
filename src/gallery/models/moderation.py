"""Reports on images and comments, and the log of what moderators did."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gallery.models.base import Base, UTCDateTime, exact_string, utcnow
from gallery.models.user import User

REPORT_REASON_MAX_LENGTH = 500


class ReportResolution(StrEnum):
    # A moderator found nothing wrong. (Deleting the content deletes its
    # reports with it, so that outcome lives in the moderation log instead.)
    DISMISSED = "dismissed"


class Report(Base):
    """A user's complaint about one image or one comment (exactly one of the two ids).

    ``open_key`` holds ``"<reporter>:<kind>:<target>"`` while the report is open
    and NULL once resolved: its unique index is what allows one open report per
    person and target on MariaDB and SQLite alike (neither has partial unique
    indexes in common, but both let NULLs repeat).
    """

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_reporter_id", "reporter_id"),
        Index("ix_reports_image_id", "image_id"),
        Index("ix_reports_comment_id", "comment_id"),
        Index("ix_reports_resolved_by_id", "resolved_by_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), default=None
    )
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), default=None
    )
    reason: Mapped[str] = mapped_column(String(REPORT_REASON_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Also the "open reports" index of the queue (open_key IS NOT NULL).
    open_key: Mapped[str | None] = mapped_column(exact_string(64), unique=True, default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    resolution: Mapped[str | None] = mapped_column(String(16), default=None)

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id], lazy="raise")

    @classmethod
    def open_condition(cls) -> ColumnElement[bool]:
        """The reports still waiting for a moderator (served by open_key's index)."""
        return cls.open_key.is_not(None)

    @staticmethod
    def open_key_for(reporter_id: int, kind: str, target_id: int) -> str:
        return f"{reporter_id}:{kind}:{target_id}"

    def __repr__(self) -> str:
        target = f"image {self.image_id}" if self.image_id else f"comment {self.comment_id}"
        return f"<Report {self.id} on {target} by {self.reporter_id}>"


class ModerationAction(StrEnum):
    DISMISS_REPORTS = "dismiss_reports"
    DELETE_IMAGE = "delete_image"
    DELETE_COMMENT = "delete_comment"
    LOCK_USER = "lock_user"
    UNLOCK_USER = "unlock_user"
    CHANGE_ROLE = "change_role"
    RESEND_ACTIVATION = "resend_activation"
    DISABLE_COMMENTS = "disable_comments"
    ENABLE_COMMENTS = "enable_comments"
    MARK_SENSITIVE = "mark_sensitive"
    UNMARK_SENSITIVE = "unmark_sensitive"
    DELETE_ACCOUNT = "delete_account"


class ModerationEntry(Base):
    """One line of the moderation log: who did what to whom, when and why.

    The target is described in words (``target`` and ``summary``), not by a
    foreign key, because the log outlives what it describes: a deleted image's
    entry still says what the image was.
    """

    __tablename__ = "moderation_log"
    __table_args__ = (
        Index("ix_moderation_log_actor_id", "actor_id"),
        Index("ix_moderation_log_subject_id", "subject_id"),
    )

    # The log reads newest first by keyset on id.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # NULL: the command line (``gallery set-role``).
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    action: Mapped[str] = mapped_column(String(32))
    # The person the action concerned (a locked user, the author of deleted content).
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    target: Mapped[str] = mapped_column(String(100))  # "image 12", "comment 7", "user alice"
    summary: Mapped[str] = mapped_column(Text, default="")  # what it was or what changed
    reason: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="raise")
    subject: Mapped[User | None] = relationship(foreign_keys=[subject_id], lazy="raise")

    def __repr__(self) -> str:
        return f"<ModerationEntry {self.id} {self.action} {self.target}>"

"""Data exports: the archives people ask for with "Download my data" (services/exports.py)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from gallery.models.base import Base, UTCDateTime, utcnow


class ExportStatus(StrEnum):
    # Asked for; a worker has not taken it yet.
    WAITING = "waiting"
    # A worker is writing the archive (``heartbeat_at`` says it is still alive).
    BUILDING = "building"
    # The archive is stored and may be downloaded until ``expires_at``.
    READY = "ready"
    # It could not be built (the reason is in ``failure``); it does not count
    # against the one-a-day limit.
    FAILED = "failed"
    # Its week is over and the archive is removed.
    EXPIRED = "expired"


class DataExport(Base):
    """One "Download my data" request and, once built, its archive.

    ``archive_key`` is set before the first byte is stored and kept until the
    archive is removed, so the row is its own record of what to clean up
    (after a crash mid-build, a failure, the expiry or the account's deletion).
    """

    __tablename__ = "data_exports"
    __table_args__ = (
        Index("ix_data_exports_user_id_requested_at", "user_id", "requested_at"),
        Index("ix_data_exports_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10), default=ExportStatus.WAITING)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    archive_key: Mapped[str | None] = mapped_column(String(255), default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    failure: Mapped[str | None] = mapped_column(String(255), default=None)

    def __repr__(self) -> str:
        return f"<DataExport {self.id} of user {self.user_id}: {self.status}>"

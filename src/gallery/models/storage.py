"""Stored files that may be orphans: written before their row was committed, or
whose row is deleted while the files are not yet removed.

A crash (or a store that fails) between the bytes and the database would
otherwise leave files that no row points to, in the folder or the bucket,
forever. Every write and delete of stored files is recorded here first, and
cleared in the transaction that makes it final; what a crash leaves behind
is removed by the storage sweep (``services.storage.sweep``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gallery.models.base import Base, UTCDateTime, utcnow


class StorageIntent(StrEnum):
    # The bytes are (being) written; the row that will point to them is not committed.
    WRITE = "write"
    # The row is gone (committed); the bytes are (being) removed.
    DELETE = "delete"


class PendingStorage(Base):
    __tablename__ = "storage_pending"
    __table_args__ = (Index("ix_storage_pending_due", "intent", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    intent: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<PendingStorage {self.intent} {self.key}>"

"""Uploaded images: where their files are and the counters the feeds show."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gallery.models.base import Base, UTCDateTime, utcnow
from gallery.models.user import User

DESCRIPTION_MAX_LENGTH = 2000


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        # The profile feed: one author's images, newest first, by keyset on id.
        Index("ix_images_author_id_id", "author_id", "id"),
        # The hot ranking reads the images of the last week (services/ranking.py).
        Index("ix_images_created_at", "created_at"),
        # Search over descriptions on MariaDB (services/search.py); SQLite gets an
        # FTS5 table kept in step by triggers instead (models/search.py).
        Index("ix_images_description_fulltext", "description", mysql_prefix="FULLTEXT").ddl_if(
            # A tuple of names works at run time (sqlalchemy.sql.ddl.DDLIf); the stub says str.
            dialect=cast(str, ("mysql", "mariadb"))
        ),
    )

    # Ids only grow, so "newest first" is "id descending": the home feed walks
    # the primary key and needs no index of its own.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # Storage keys (random names): the cleaned full-size file and its two variants.
    original_key: Mapped[str] = mapped_column(String(255))
    display_key: Mapped[str] = mapped_column(String(255))
    thumb_key: Mapped[str] = mapped_column(String(255))
    # Of the display variant, so pages can reserve its space before it loads.
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    thumb_size: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Kept in step with their rows in the same transaction (count = count + 1),
    # so feeds never count per image.
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    # Set by the owner (or a moderator): new comments are refused, old ones stay.
    comments_disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    author: Mapped[User] = relationship(lazy="raise")

    @property
    def storage_keys(self) -> tuple[str, str, str]:
        return (self.original_key, self.display_key, self.thumb_key)

    def __repr__(self) -> str:
        return f"<Image {self.id} by {self.author_id}>"

"""Comments on images."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gallery.models.base import Base, UTCDateTime, utcnow
from gallery.models.user import User

COMMENT_MAX_LENGTH = 1000


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (
        # An image's comments in order (and the first two of each for the feeds).
        Index("ix_comments_image_id_id", "image_id", "id"),
        Index("ix_comments_author_id", "author_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User] = relationship(lazy="raise")

    def __repr__(self) -> str:
        return f"<Comment {self.id} on {self.image_id}>"

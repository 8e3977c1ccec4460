"""The social graph around images: likes, follows, hashtags and notifications."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gallery.models.base import Base, UTCDateTime, exact_string, utcnow
from gallery.models.user import User

TAG_MAX_LENGTH = 64


class Like(Base):
    """One user likes one image: the primary key makes a second like impossible."""

    __tablename__ = "likes"
    __table_args__ = (
        # Who liked an image (and the cascade from images) without a table scan.
        Index("ix_likes_image_id", "image_id"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Save(Base):
    """One user saved one post for later (a private bookmark)."""

    __tablename__ = "saves"
    __table_args__ = (
        UniqueConstraint("user_id", "image_id", name="uq_saves_user_id_image_id"),
        # The saved page: one user's saves, newest first, by keyset on id.
        Index("ix_saves_user_id_id", "user_id", "id"),
        Index("ix_saves_image_id", "image_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Follow(Base):
    """``follower`` follows ``followed``; at most once (unique), never oneself (service)."""

    __tablename__ = "follows"
    __table_args__ = (
        # Also serves "whom does X follow" (the following feed, the following list).
        UniqueConstraint("follower_id", "followed_id", name="uq_follows_follower_id_followed_id"),
        # "Who follows X", newest first by keyset on id.
        Index("ix_follows_followed_id_id", "followed_id", "id"),
    )

    # A surrogate id so that follower lists page by keyset like every other list.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    followed_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FollowRequest(Base):
    """``requester`` asks to follow the private account ``target``; the target's yes
    turns it into a ``Follow``, a no (or the requester's change of mind) removes it."""

    __tablename__ = "follow_requests"
    __table_args__ = (
        UniqueConstraint(
            "requester_id", "target_id", name="uq_follow_requests_requester_id_target_id"
        ),
        # The owner's list of requests, newest first by keyset on id.
        Index("ix_follow_requests_target_id_id", "target_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mute(Base):
    """``muter`` no longer sees ``muted`` in their feeds, search or notifications.

    Private to the muter: nothing else changes, and the muted account is not told
    (``services/visibility.py`` decides what it hides).
    """

    __tablename__ = "mutes"
    __table_args__ = (
        # Also serves "whom does X mute" (every signed-in feed overlay asks it).
        UniqueConstraint("muter_id", "muted_id", name="uq_mutes_muter_id_muted_id"),
        # The list of muted accounts, newest first by keyset on id.
        Index("ix_mutes_muter_id_id", "muter_id", "id"),
        Index("ix_mutes_muted_id", "muted_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    muter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    muted_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Block(Base):
    """``blocker`` and ``blocked`` no longer see each other anywhere, and the blocked
    one cannot follow, comment on, like or report the blocker's content
    (``services/visibility.py``). Neither is told."""

    __tablename__ = "blocks"
    __table_args__ = (
        # Also serves "whom does X block".
        UniqueConstraint("blocker_id", "blocked_id", name="uq_blocks_blocker_id_blocked_id"),
        # The list of blocked accounts, newest first by keyset on id.
        Index("ix_blocks_blocker_id_id", "blocker_id", "id"),
        # "Who blocks X": every signed-in overlay of X asks it.
        Index("ix_blocks_blocked_id", "blocked_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    blocker_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    blocked_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Which tags an image carries; the tag feed walks (tag_id, image_id) newest first.
image_tags = Table(
    "image_tags",
    Base.metadata,
    Column(
        "image_id", ForeignKey("images.id", ondelete="CASCADE"), primary_key=True, nullable=False
    ),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, nullable=False),
    Index("ix_image_tags_tag_id_image_id", "tag_id", "image_id"),
)


class Tag(Base):
    """A hashtag, stored once under its case-folded name (``#Sea`` and ``#sea`` are one)."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Byte-compared (utf8mb4_bin): names are case-folded by the parser, and
    # MariaDB's default collation would fold accents too, merging distinct tags.
    name: Mapped[str] = mapped_column(exact_string(TAG_MAX_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Tag #{self.name}>"


class NotificationKind(StrEnum):
    COMMENT = "comment"  # someone commented on your image
    LIKE = "like"  # someone liked your image
    FOLLOW = "follow"  # someone followed you
    FOLLOW_REQUEST = "follow_request"  # someone asks to follow your private account
    FOLLOW_ACCEPTED = "follow_accepted"  # a private account accepted your request


class Notification(Base):
    """Something another user did that concerns ``recipient``; unread until ``read_at``."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The list, newest first by keyset on id.
        Index("ix_notifications_recipient_id_id", "recipient_id", "id"),
        # The unread count: the recipient's rows with no read_at, from the index alone.
        Index("ix_notifications_recipient_id_read_at", "recipient_id", "read_at"),
        # Withdrawing a like's or a follow's notice finds it by who did it.
        Index("ix_notifications_actor_id", "actor_id"),
        Index("ix_notifications_image_id", "image_id"),
        Index("ix_notifications_comment_id", "comment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), default=None
    )
    comment_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    actor: Mapped[User] = relationship(foreign_keys=[actor_id], lazy="raise")

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.kind} for {self.recipient_id}>"

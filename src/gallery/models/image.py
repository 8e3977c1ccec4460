"""Posts and their photos: where the files are and the counters the feeds show.

An ``Image`` row is a *post* (the table keeps its first name, so every like,
comment, tag, view, report and notification that points at it still does): an
author, a caption (``description``), counters, and 1–10 ``Photo`` rows in order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gallery.models.base import Base, UTCDateTime, exact_string, utcnow
from gallery.models.user import User

DESCRIPTION_MAX_LENGTH = 2000
MAX_PHOTOS_PER_POST = 10
ALT_TEXT_MAX_LENGTH = 1500
CONTENT_WARNING_MAX_LENGTH = 100
# Longer web addresses are not imported (browsers and servers balk at them too).
SOURCE_URL_MAX_LENGTH = 2048


class PostVisibility(StrEnum):
    """Who the author shows a post to (a private account's posts reach its followers only)."""

    PUBLIC = "public"
    FOLLOWERS = "followers"


class Photo(Base):
    """One picture of a post: its stored files, their size, and what it shows (alt text).

    A photo with no post yet (``image_id`` NULL) is a *draft*: the composer
    sends each photo on its own as soon as it is chosen, and the post that
    takes them comes after. Drafts nobody posts are removed after a day
    (``services.drafts``).
    """

    __tablename__ = "photos"
    __table_args__ = (
        # A post's photos in order; also the index the post's lookups use, and
        # (image_id IS NULL, created_at) the one the sweep of old drafts uses.
        UniqueConstraint("image_id", "position", name="uq_photos_image_id_position"),
        Index("ix_photos_owner_id_image_id", "owner_id", "image_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # 0 for the first (the cover the grids and the seed routes show).
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    # Storage keys (random names): the cleaned full-size file and its two variants.
    original_key: Mapped[str] = mapped_column(String(255))
    display_key: Mapped[str] = mapped_column(String(255))
    thumb_key: Mapped[str] = mapped_column(String(255))
    # Of the display variant, so pages can reserve its space before it loads.
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    thumb_size: Mapped[int] = mapped_column(Integer)
    # What the photo shows, for people who cannot see it ("" = not written yet).
    alt_text: Mapped[str] = mapped_column(Text, default="")
    # The widths of srcset ("320,640,1080,2048"; "" for photos from before
    # them), stored as ``<variant_stem>_w<width>.<variant_format>`` and, unless
    # the format is the only one (transparency), ``….jpg`` as well.
    variant_stem: Mapped[str] = mapped_column(String(255), default="")
    variant_widths: Mapped[str] = mapped_column(String(64), default="")
    variant_format: Mapped[str] = mapped_column(String(8), default="")
    variant_has_jpeg: Mapped[bool] = mapped_column(Boolean, default=False)
    # Painted while the photo loads (None for photos from before placeholders).
    blurhash: Mapped[str | None] = mapped_column(String(64), default=None)

    @property
    def widths(self) -> list[int]:
        return [int(width) for width in self.variant_widths.split(",") if width]

    def variant_key(self, width: int, extension: str) -> str:
        return f"{self.variant_stem}_w{width}.{extension}"

    @property
    def variant_keys(self) -> list[str]:
        extensions = [self.variant_format] + (["jpg"] if self.variant_has_jpeg else [])
        return [self.variant_key(w, extension) for w in self.widths for extension in extensions]

    @property
    def storage_keys(self) -> list[str]:
        return [self.original_key, self.display_key, self.thumb_key, *self.variant_keys]

    def __repr__(self) -> str:
        return f"<Photo {self.id} of {self.image_id} at {self.position}>"


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        # The profile feed: one author's images, newest first, by keyset on id.
        Index("ix_images_author_id_id", "author_id", "id"),
        # The hot ranking reads the images of the last week (services/ranking.py).
        Index("ix_images_created_at", "created_at"),
        # `gallery import URL` imports a photo once per account: by its URL and by its bytes.
        Index("ix_images_author_id_source_url_sha256", "author_id", "source_url_sha256"),
        Index("ix_images_author_id_source_sha256", "author_id", "source_sha256"),
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
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Kept in step with their rows in the same transaction (count = count + 1),
    # so feeds never count per image.
    comment_count: Mapped[int] = mapped_column(Integer, default=0)
    like_count: Mapped[int] = mapped_column(Integer, default=0)
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    # Set by the owner (or a moderator): new comments are refused, old ones stay.
    comments_disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # When the author last changed the caption or an alt text (None: never);
    # what it said before is in ``post_versions``.
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Shown blurred, behind ``content_warning`` (None = no words given), until
    # the viewer asks; set by the author or a moderator.
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    content_warning: Mapped[str | None] = mapped_column(
        String(CONTENT_WARNING_MAX_LENGTH), default=None
    )

    # The author's choice for this post (``PostVisibility``), kept when the
    # account turns private and back.
    visibility: Mapped[str] = mapped_column(
        String(16), default=PostVisibility.PUBLIC, server_default=PostVisibility.PUBLIC
    )
    # Whether anyone may see the post: its visibility is public and its
    # author's account is not private. Derived from those two and kept in step
    # by services/privacy.py, so the shared (anonymous) feed pages filter on
    # one column of the row they read anyway.
    is_public: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # Where `gallery import` found the photo (None for uploads): shown to its
    # owner and to moderators. The SHA-256 of that URL (normalised) and of the
    # bytes fetched let a rerun skip what it imported before.
    source_url: Mapped[str | None] = mapped_column(String(SOURCE_URL_MAX_LENGTH), default=None)
    source_url_sha256: Mapped[str | None] = mapped_column(exact_string(64), default=None)
    source_sha256: Mapped[str | None] = mapped_column(exact_string(64), default=None)

    author: Mapped[User] = relationship(lazy="raise")
    # Loaded with every post (one more query per batch of posts, never one per
    # post): no page shows a post without at least its first photo.
    photos: Mapped[list[Photo]] = relationship(
        order_by=Photo.position,
        lazy="selectin",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def cover(self) -> Photo:
        """The first photo: what grids, notifications and the seed routes show."""
        return self.photos[0]

    @property
    def storage_keys(self) -> list[str]:
        return [key for photo in self.photos for key in photo.storage_keys]

    def __repr__(self) -> str:
        return f"<Image {self.id} by {self.author_id}>"


class PostVersion(Base):
    """What a post said before an edit: its caption and its photos' alt texts.

    One row per edit, written in the edit's transaction; the post's current
    words stay on the post. ``alt_texts`` is a JSON list of
    ``{"photo_id", "alt_text"}`` in the photos' order.
    """

    __tablename__ = "post_versions"
    __table_args__ = (Index("ix_post_versions_image_id_id", "image_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    # Who made the edit that replaced this version (kept if they leave: NULL).
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(Text)
    alt_texts: Mapped[str] = mapped_column(Text)
    # This version was shown from ``valid_from`` (posting, or the edit before)
    # until ``replaced_at``.
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    replaced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

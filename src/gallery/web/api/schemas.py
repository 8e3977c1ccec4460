"""The JSON shapes of SPEC §5, and how models become them.

Pages use the same dictionaries (``asdict``) so that what the server renders
and what the scripts render from the feeds come from one source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from gallery.infra.storage import Storage
from gallery.models.comment import Comment
from gallery.models.user import User
from gallery.services.feeds import ImageCard

DEFAULT_AVATAR_URL = "/static/img/avatar.svg"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-11-21T09:30:00.123456Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Author:
    id: int
    username: str
    avatar_url: str


@dataclass
class CommentOut:
    id: int
    content: str
    created_at: str
    author: Author


@dataclass
class ImageOut:
    id: int
    url: str
    thumb_url: str
    width: int
    height: int
    description: str
    created_at: str
    author: Author
    comment_count: int
    like_count: int
    liked: bool
    comments: list[CommentOut]


@dataclass
class Feed:
    items: list[ImageOut]
    next_cursor: str | None


@dataclass
class SeedFeed:
    """The seed clients' shape: numbered pages."""

    has_next: bool
    images: list[ImageOut]


@dataclass
class CommentList:
    items: list[CommentOut]
    next_cursor: str | None


@dataclass
class UserOut:
    id: int
    username: str
    avatar_url: str
    created_at: str
    image_count: int


def avatar_url(user: User, storage: Storage) -> str:
    return storage.url(user.avatar_key) if user.avatar_key else DEFAULT_AVATAR_URL


def author_out(user: User, storage: Storage) -> Author:
    return Author(id=user.id, username=user.username, avatar_url=avatar_url(user, storage))


def comment_out(comment: Comment, storage: Storage) -> CommentOut:
    return CommentOut(
        id=comment.id,
        content=comment.content,
        created_at=iso_utc(comment.created_at),
        author=author_out(comment.author, storage),
    )


def image_out(card: ImageCard, storage: Storage) -> ImageOut:
    image = card.image
    return ImageOut(
        id=image.id,
        url=storage.url(image.display_key),
        thumb_url=storage.url(image.thumb_key),
        width=image.width,
        height=image.height,
        description=image.description,
        created_at=iso_utc(image.created_at),
        author=author_out(image.author, storage),
        comment_count=image.comment_count,
        like_count=image.like_count,
        liked=card.liked,
        comments=[comment_out(c, storage) for c in card.first_comments],
    )

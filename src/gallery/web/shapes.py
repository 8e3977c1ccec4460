"""The shapes of what Gallery shows (SPEC §5), and how models become them.

One source for three readers: the JSON API serialises them, the pages render
the same dictionaries (``asdict``), and ``feed.js`` builds cards from the
feeds' JSON, so a photo looks the same however it reached the screen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from quart import url_for

from gallery.infra.storage import CONTENT_TYPES, Storage
from gallery.models.comment import Comment
from gallery.models.image import Image, Photo
from gallery.models.moderation import Report
from gallery.models.social import NotificationKind
from gallery.models.user import AVATAR_SIZES, User
from gallery.services import avatars
from gallery.services.feeds import FeedPage, ImageCard
from gallery.services.notifications import NotificationEntry
from gallery.web.private_media import private_url


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-11-21T09:30:00.123456Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Author:
    id: int
    username: str
    avatar_url: str
    display_name: str | None = None  # what to show instead of the username, when set


@dataclass
class CommentOut:
    id: int
    content: str
    created_at: str
    author: Author


@dataclass
class PhotoOut:
    """One photo of a post: its display file (``url``), square thumbnail, and alt text.

    ``srcset`` lists the photo at several widths in ``srcset_type`` (WebP), and
    ``fallback_srcset`` the same widths in JPEG, for ``<picture>``; both are ""
    for photos stored before there were such widths (``url`` is all there is).
    ``blurhash`` is the placeholder to paint while it loads (None: none).
    """

    id: int
    url: str
    thumb_url: str
    width: int
    height: int
    alt_text: str  # "" when the author has not described it
    srcset: str
    srcset_type: str
    fallback_srcset: str
    blurhash: str | None


@dataclass
class SeedImageOut:
    """A post as the seed clients know it: its first photo's files, the post's caption."""

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
    # False when the owner or a moderator turned comments off (old ones still show).
    comments_enabled: bool
    comments: list[CommentOut]


@dataclass
class ImageOut(SeedImageOut):
    """A post: ``url`` … ``height`` are its first photo's, ``photos`` all of them in order."""

    photos: list[PhotoOut]
    # When the author last changed the caption or an alt text; None if never.
    edited_at: str | None
    # Shown blurred behind ``content_warning`` (None: no words) until the viewer asks.
    sensitive: bool
    content_warning: str | None
    # Whether the signed-in viewer saved it for later (else false).
    saved: bool
    # Who the author shows it to: "public" or "followers" (a private account's
    # posts reach its followers only, whatever this says).
    visibility: str = "public"
    # Where `gallery import` found the photo, on ``GET /api/v1/images/<id>`` for
    # its owner and moderators; null for everyone else, in feeds, and for uploads.
    source_url: str | None = None


SEED_IMAGE_FIELDS = tuple(field.name for field in fields(SeedImageOut))


@dataclass
class Feed:
    items: list[ImageOut]
    next_cursor: str | None


@dataclass
class ImageCounts:
    id: int
    like_count: int
    comment_count: int


@dataclass
class ImageCountList:
    items: list[ImageCounts]


@dataclass
class SeedFeed:
    """The seed clients' shape: numbered pages."""

    has_next: bool
    images: list[SeedImageOut]


@dataclass
class CommentList:
    items: list[CommentOut]
    next_cursor: str | None


@dataclass
class ReportOut:
    id: int
    target: str  # "image" or "comment"
    target_id: int
    reason: str
    created_at: str


@dataclass
class UserOut:
    id: int
    username: str
    avatar_url: str
    created_at: str
    image_count: int
    follower_count: int
    following_count: int
    following: bool  # whether the signed-in viewer follows this user
    # A private account's posts are seen by its followers only; following it is asked.
    is_private: bool = False
    requested: bool = False  # whether the viewer asked to follow and waits for an answer
    display_name: str | None = None
    bio: str | None = None
    website: str | None = None
    # The uploaded avatar at each stored size in pixels ("32" … "320"); a
    # generated avatar is one scalable file, the same at every size.
    avatar_urls: dict[str, str] = field(default_factory=dict)


@dataclass
class UserList:
    items: list[Author]
    next_cursor: str | None


@dataclass
class SaveOut:
    saved: bool


@dataclass
class LikeOut:
    liked: bool
    like_count: int


@dataclass
class MuteOut:
    muted: bool


@dataclass
class BlockOut:
    blocked: bool


@dataclass
class FollowOut:
    following: bool
    follower_count: int
    # True when the account is private: the owner was asked, and decides.
    requested: bool = False


@dataclass
class FollowRequestAnswer:
    username: str
    accepted: bool  # true: the request became a follow; false: declined


@dataclass
class ProfileOut:
    """What a person says of themselves, and their avatar at every size."""

    display_name: str | None
    bio: str | None
    website: str | None
    avatar_url: str
    avatar_urls: dict[str, str]


def avatar_urls(user: User, storage: Storage) -> dict[str, str]:
    return {str(size): avatar_url(user, storage, size) for size in AVATAR_SIZES}


def profile_out(user: User, storage: Storage) -> ProfileOut:
    return ProfileOut(
        display_name=user.display_name,
        bio=user.bio,
        website=user.website,
        avatar_url=avatar_url(user, storage),
        avatar_urls=avatar_urls(user, storage),
    )


@dataclass
class PrivacyOut:
    is_private: bool
    # How many pending requests turning public accepted (0 otherwise).
    accepted_requests: int = 0


@dataclass
class NotificationImage:
    id: int
    thumb_url: str


@dataclass
class NotificationComment:
    id: int
    content: str


@dataclass
class NotificationOut:
    id: int
    kind: str  # "comment", "like" or "follow"
    created_at: str
    read: bool
    text: str  # "alice liked your photo"
    url: str  # where the notice leads: the image (at the comment) or the follower's profile
    actor: Author
    image: NotificationImage | None
    comment: NotificationComment | None


@dataclass
class NotificationList:
    items: list[NotificationOut]
    next_cursor: str | None
    unread_count: int


@dataclass
class UnreadCount:
    unread_count: int


@dataclass
class UserResult:
    id: int
    username: str
    avatar_url: str


@dataclass
class TagResult:
    name: str
    image_count: int
    url: str


@dataclass
class SearchResults:
    """``items`` are Images, users or tags, as ``type`` asked."""

    items: list[ImageOut | UserResult | TagResult]
    next_cursor: str | None


@dataclass
class ErrorDetail:
    code: str  # "NOT_FOUND", "CSRF_FAILED", "RATE_LIMITED"...: for programs
    message: str  # for people


@dataclass
class ErrorOut:
    """What every refusal of a JSON route carries: an error with a code and a message."""

    error: ErrorDetail


def avatar_url(user: User, storage: Storage, size: int = avatars.SMALL_SIZE) -> str:
    return avatars.avatar_url(user, storage, size)


def author_out(user: User, storage: Storage) -> Author:
    return Author(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        avatar_url=avatar_url(user, storage),
    )


def comment_out(comment: Comment, storage: Storage) -> CommentOut:
    return CommentOut(
        id=comment.id,
        content=comment.content,
        created_at=iso_utc(comment.created_at),
        author=author_out(comment.author, storage),
    )


def media_url(storage: Storage, photo: Photo, key: str, *, is_public: bool) -> str:
    """Where browsers fetch one of ``photo``'s files: the store's URL for a public
    post, an expiring signed one otherwise (``web/private_media.py``)."""
    return storage.url(key) if is_public else private_url(photo, key)


def cover_thumb_url(storage: Storage, image: Image) -> str:
    return media_url(storage, image.cover, image.cover.thumb_key, is_public=image.is_public)


def srcset_of(photo: Photo, storage: Storage, extension: str, *, is_public: bool) -> str:
    return ", ".join(
        f"{media_url(storage, photo, photo.variant_key(width, extension), is_public=is_public)}"
        f" {width}w"
        for width in photo.widths
    )


def photo_out(photo: Photo, storage: Storage, *, is_public: bool = True) -> PhotoOut:
    modern = photo.variant_format
    return PhotoOut(
        id=photo.id,
        url=media_url(storage, photo, photo.display_key, is_public=is_public),
        thumb_url=media_url(storage, photo, photo.thumb_key, is_public=is_public),
        width=photo.width,
        height=photo.height,
        alt_text=photo.alt_text,
        srcset=srcset_of(photo, storage, modern, is_public=is_public) if modern else "",
        srcset_type=CONTENT_TYPES.get(modern, "") if modern else "",
        fallback_srcset=srcset_of(photo, storage, "jpg", is_public=is_public)
        if photo.variant_has_jpeg
        else "",
        blurhash=photo.blurhash,
    )


def image_out(card: ImageCard, storage: Storage) -> ImageOut:
    image = card.image
    photos = [photo_out(photo, storage, is_public=image.is_public) for photo in image.photos]
    cover = photos[0]
    return ImageOut(
        id=image.id,
        url=cover.url,
        thumb_url=cover.thumb_url,
        width=cover.width,
        height=cover.height,
        description=image.description,
        created_at=iso_utc(image.created_at),
        author=author_out(image.author, storage),
        comment_count=image.comment_count,
        like_count=image.like_count,
        liked=card.liked,
        comments_enabled=not image.comments_disabled,
        comments=[comment_out(c, storage) for c in card.first_comments],
        photos=photos,
        edited_at=iso_utc(image.edited_at) if image.edited_at else None,
        sensitive=image.sensitive,
        content_warning=image.content_warning,
        saved=card.saved,
        visibility=image.visibility,
    )


def seed_image(card: ImageCard, storage: Storage) -> dict[str, Any]:
    """A post in the seed routes' shape, exactly as before posts had several photos."""
    item = asdict(image_out(card, storage))
    return {name: item[name] for name in SEED_IMAGE_FIELDS}


def report_out(report: Report) -> ReportOut:
    if report.image_id is not None:
        target, target_id = "image", report.image_id
    elif report.comment_id is not None:
        target, target_id = "comment", report.comment_id
    else:  # the model allows exactly one of the two ids
        raise ValueError(f"{report!r} is about neither an image nor a comment")
    return ReportOut(
        id=report.id,
        target=target,
        target_id=target_id,
        reason=report.reason,
        created_at=iso_utc(report.created_at),
    )


NOTIFICATION_TEXTS = {
    NotificationKind.COMMENT: "commented on your photo",
    NotificationKind.LIKE: "liked your photo",
    NotificationKind.FOLLOW: "started following you",
    NotificationKind.FOLLOW_REQUEST: "asked to follow you",
    NotificationKind.FOLLOW_ACCEPTED: "accepted your follow request",
}


def notification_out(entry: NotificationEntry, storage: Storage) -> NotificationOut:
    notice = entry.notification
    actor = notice.actor
    kind = NotificationKind(notice.kind)
    if entry.image is not None:
        url = url_for("images.detail", image_id=entry.image.id)
        if entry.comment is not None:
            url += f"#comment-{entry.comment.id}"
    elif kind is NotificationKind.FOLLOW_REQUEST:
        url = url_for("social.follow_requests")
    else:
        url = url_for("users.profile", username=actor.username)
    return NotificationOut(
        id=notice.id,
        kind=kind.value,
        created_at=iso_utc(notice.created_at),
        read=notice.read_at is not None,
        text=f"{actor.username} {NOTIFICATION_TEXTS[kind]}",
        url=url,
        actor=author_out(actor, storage),
        image=NotificationImage(id=entry.image.id, thumb_url=cover_thumb_url(storage, entry.image))
        if entry.image is not None
        else None,
        comment=NotificationComment(id=entry.comment.id, content=entry.comment.content)
        if entry.comment is not None
        else None,
    )


def feed_of(page: FeedPage, storage: Storage) -> Feed:
    """A service's feed page in the API's shape."""
    return Feed(items=[image_out(c, storage) for c in page.cards], next_cursor=page.next_cursor)

"""SQLAlchemy models only: importing this package registers every table on ``Base``."""

from gallery.models.base import Base
from gallery.models.comment import Comment
from gallery.models.image import Image
from gallery.models.mail import OutboxMessage, OutboxStatus
from gallery.models.moderation import (
    ModerationAction,
    ModerationEntry,
    Report,
    ReportResolution,
)
from gallery.models.social import Follow, Like, Notification, NotificationKind, Tag, image_tags
from gallery.models.storage import PendingStorage, StorageIntent
from gallery.models.user import Permission, Role, User

__all__ = [
    "Base",
    "Comment",
    "Follow",
    "Image",
    "Like",
    "ModerationAction",
    "ModerationEntry",
    "Notification",
    "NotificationKind",
    "OutboxMessage",
    "OutboxStatus",
    "PendingStorage",
    "Permission",
    "Report",
    "ReportResolution",
    "Role",
    "StorageIntent",
    "Tag",
    "User",
    "image_tags",
]

"""SQLAlchemy models only: importing this package registers every table on ``Base``."""

from gallery.models.base import Base
from gallery.models.comment import Comment
from gallery.models.export import DataExport, ExportStatus
from gallery.models.image import Image, Photo, PostVersion
from gallery.models.mail import OutboxMessage, OutboxStatus
from gallery.models.moderation import (
    ModerationAction,
    ModerationEntry,
    Report,
    ReportResolution,
)
from gallery.models.social import (
    Block,
    Follow,
    FollowRequest,
    Like,
    Mute,
    Notification,
    NotificationKind,
    Save,
    Tag,
    image_tags,
)
from gallery.models.storage import PendingStorage, StorageIntent
from gallery.models.user import Passkey, Permission, RecoveryCode, Role, User, UsernameReservation

__all__ = [
    "Base",
    "Block",
    "Comment",
    "DataExport",
    "ExportStatus",
    "Follow",
    "FollowRequest",
    "Image",
    "Like",
    "ModerationAction",
    "ModerationEntry",
    "Mute",
    "Notification",
    "NotificationKind",
    "OutboxMessage",
    "OutboxStatus",
    "Passkey",
    "PendingStorage",
    "Permission",
    "Photo",
    "PostVersion",
    "RecoveryCode",
    "Report",
    "ReportResolution",
    "Role",
    "Save",
    "StorageIntent",
    "Tag",
    "User",
    "UsernameReservation",
    "image_tags",
]

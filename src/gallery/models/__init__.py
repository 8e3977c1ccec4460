"""SQLAlchemy models only: importing this package registers every table on ``Base``."""

from gallery.infra.db import Base
from gallery.models.mail import OutboxMessage, OutboxStatus
from gallery.models.user import Permission, Role, User

__all__ = ["Base", "OutboxMessage", "OutboxStatus", "Permission", "Role", "User"]

"""Who may do what: the one check every service and view asks.

Permissions are bits on the account (``models.user.Permission``); roles are
named sets of them. On top of the bits, an account acts only while it is
active and not locked: a locked account can still sign in and look around,
but nothing it asks to change goes through.
"""

from __future__ import annotations

from gallery.models.user import Permission, User
from gallery.services.errors import PermissionDenied

LOCKED_MESSAGE = (
    "Your account is locked, so you can look around but not upload, comment, like, "
    "follow or report. If you think this is a mistake, write to the site's moderators."
)


class AccountLocked(PermissionDenied):
    """Refused because the account is locked (pages flash this and go back)."""

    def __init__(self) -> None:
        super().__init__(LOCKED_MESSAGE)


# What each bit lets someone do, for refusals that say what was refused.
ACTION_OF = {
    Permission.FOLLOW: "follow people",
    Permission.COMMENT: "comment",
    Permission.UPLOAD: "upload images",
    Permission.MODERATE: "moderate",
    Permission.ADMINISTER: "administer the site",
}


def can(user: User | None, permission: Permission | None = None) -> bool:
    """Whether ``user`` may act with ``permission`` now.

    ``None`` asks only whether the account may act at all (liking and
    reporting need no bit, just an active, unlocked account).
    """
    if user is None:
        return False
    return user.can(permission or Permission(0))


def require_permission(user: User, permission: Permission | None = None) -> None:
    """Raise ``AccountLocked`` or ``PermissionDenied`` unless ``can(user, permission)``."""
    if can(user, permission):
        return
    # The lock is the reason only when the role would allow it: a locked user
    # asking for a moderator's page lacks the bit, locked or not.
    if user.is_active and user.is_locked and user.has_bits(permission or Permission(0)):
        raise AccountLocked()
    action = ACTION_OF.get(permission, "do this") if permission else "do this"
    raise PermissionDenied(f"Your account may not {action}.")


def outranks(actor: User, other: User) -> bool:
    """Whether ``actor`` may lock, unlock or change ``other``.

    Moderators manage plain users; administrators manage everyone but
    themselves. So a moderator can never take an administrator's (or another
    moderator's) bits away.
    """
    if actor.id == other.id or not actor.can(Permission.MODERATE):
        return False
    if actor.can(Permission.ADMINISTER):
        return True
    return not other.has_bits(Permission.MODERATE)

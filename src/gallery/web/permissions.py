"""``permission_required``: the route-level form of ``services.permissions``.

Views declare what they need; the services they call check again, so a
permission holds whichever way an action is reached (page, API, command).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from gallery.models.user import Permission
from gallery.services.permissions import require_permission
from gallery.web.current_user import require_user

P = ParamSpec("P")
R = TypeVar("R")


def permission_required(
    permission: Permission | None = None,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Refuse the view unless the signed-in user ``can(permission)``.

    Not signed in: 401 (JSON) or the sign-in page. Signed in without the bit:
    403. Locked: 403 with the lock message on JSON routes, a flash on pages
    (``web/errors.py``). ``None`` asks only for an account that may act at all.
    """

    def decorator(view: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @wraps(view)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            require_permission(require_user(), permission)
            return await view(*args, **kwargs)

        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded

    return decorator

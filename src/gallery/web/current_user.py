"""Who is signed in: resolves quart-auth's token through Redis to a ``User`` row."""

from __future__ import annotations

from quart import request
from quart_auth import Unauthorized, logout_user

from gallery.models.user import User
from gallery.web.resources import resources
from gallery.web.sessions import request_session_user

# quart-auth's user of the current request (resolved from its cookie on first use).
session_user = request_session_user


async def load_signed_in_user() -> None:
    """Before every request: look the sign-in up once and keep it for the request."""
    use = resources()
    auth = session_user()
    # Static files need no user (nginx serves them in production anyway).
    if auth.auth_id is None or request.endpoint in ("static", "images.media"):
        return
    sign_ins = use.sign_ins
    sign_in = await sign_ins.get(auth.auth_id)
    if sign_in is None:
        logout_user()  # revoked or expired: drop the dead cookie
        return
    user = await (use.db).get(User, sign_in.user_id)
    if user is None or not user.is_active:
        await sign_ins.delete(auth.auth_id)
        logout_user()
        return
    auth.user = user
    auth.sign_in = sign_in
    await sign_ins.touch(auth.auth_id, sign_in)


def signed_in_user() -> User | None:
    return session_user().user


def require_user() -> User:
    """The signed-in user, or 401 (JSON) / a redirect to the sign-in page (HTML)."""
    user = signed_in_user()
    if user is None:
        raise Unauthorized()
    return user


def viewer_id() -> int | None:
    viewer = signed_in_user()
    return viewer.id if viewer else None

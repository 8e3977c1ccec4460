"""The signed-in account in the JSON API: who am I, and my signed-in sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field
from quart import Blueprint, Response, abort
from quart_schema import document_response, tag

from gallery.services import privacy
from gallery.web.current_user import require_user, session_user
from gallery.web.json_bodies import validate_json
from gallery.web.json_routes import answers
from gallery.web.rate_limits import rate_limit_exempt
from gallery.web.resources import resources
from gallery.web.security import csrf_token
from gallery.web.shapes import PrivacyOut, avatar_url, iso_utc

bp = Blueprint("account", __name__)


@dataclass
class Me:
    id: int
    username: str
    email: str
    avatar_url: str
    role: str
    permissions: int
    # A locked account may read but not change anything (its permissions stay).
    locked: bool
    created_at: str
    csrf_token: str
    # Following a private account is asked; its posts reach followers only.
    is_private: bool = False


@dataclass
class SessionInfo:
    id: str
    created_at: str
    last_seen_at: str
    ip: str
    user_agent: str
    remember: bool
    current: bool


@dataclass
class SessionList:
    sessions: list[SessionInfo]


@bp.get("/me")  # type: ignore[type-var]  # quart-schema serialises the dataclass
@tag(["account"])
@document_response(Me)
@answers(401)
async def me() -> Me:
    """The signed-in user, with the CSRF token that unsafe requests must send."""
    user = require_user()
    return Me(
        id=user.id,
        username=user.username,
        email=user.email,
        avatar_url=avatar_url(user, resources().storage),
        role=user.role_name,
        permissions=user.permissions,
        locked=user.is_locked,
        created_at=iso_utc(user.created_at),
        csrf_token=csrf_token(),
        is_private=user.is_private,
    )


@dataclass
class PrivacyIn:
    is_private: Annotated[bool, Field(strict=True)]


@bp.put("/me/privacy")  # type: ignore[type-var]
@tag(["account"])
@validate_json(PrivacyIn)
@document_response(PrivacyOut)
@answers(400, 401)
@rate_limit_exempt("a switch on the caller's own account; setting it again changes nothing")
async def set_privacy(data: PrivacyIn) -> PrivacyOut:
    """Make your account private (following it is then asked, and its posts reach
    followers only) or public again, which accepts every pending follow request."""
    use = resources()
    accepted = await privacy.set_private(
        use.db, use.redis, user=require_user(), private=data.is_private
    )
    return PrivacyOut(is_private=data.is_private, accepted_requests=accepted)


@bp.get("/sessions")  # type: ignore[type-var]
@tag(["account"])
@document_response(SessionList)
@answers(401)
async def list_sessions() -> SessionList:
    """The user's signed-in sessions, newest first; ``current`` marks this one."""
    user = require_user()
    auth = session_user()
    current_id = auth.sign_in.public_id if auth.sign_in else None
    sign_ins = await resources().sign_ins.list_for_user(user.id)
    return SessionList(
        sessions=[
            SessionInfo(
                id=s.public_id,
                created_at=iso_utc(s.created_at),
                last_seen_at=iso_utc(s.last_seen_at),
                ip=s.ip,
                user_agent=s.user_agent,
                remember=s.remember,
                current=s.public_id == current_id,
            )
            for s in sign_ins
        ]
    )


@bp.delete("/sessions/<session_id>")
@tag(["account"])
@answers(204, 401, 404)
@rate_limit_exempt("ends one of the caller's own sessions")
async def revoke_session(session_id: str) -> Response:
    """End one of the user's sessions (a copied cookie stops working at once)."""
    user = require_user()
    if not await resources().sign_ins.revoke(user.id, session_id):
        abort(404, "You have no session with that id.")
    return Response(b"", status=204)

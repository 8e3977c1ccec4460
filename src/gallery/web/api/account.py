"""The signed-in account in the JSON API: who am I, and my signed-in sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field
from quart import Blueprint, Response, abort, session
from quart.typing import ResponseReturnValue
from quart_schema import DataSource, document_request, document_response, tag
from quart_schema.pydantic import File

from gallery.models.export import DataExport, ExportStatus
from gallery.models.social import NotificationKind
from gallery.models.user import Passkey, Theme, User
from gallery.services import exports, notifications, passkeys, privacy, profiles
from gallery.services.errors import InvalidInput
from gallery.web.actions import change_avatar
from gallery.web.body_limits import accepts_uploads
from gallery.web.current_user import require_user, session_user
from gallery.web.json_bodies import validate_json
from gallery.web.json_routes import answers, answers_file
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import rate_limit_exempt, rate_limited
from gallery.web.resources import resources
from gallery.web.security import csrf_token, relying_party
from gallery.web.settings import archive_response
from gallery.web.shapes import PrivacyOut, ProfileOut, avatar_url, avatar_urls, iso_utc, profile_out

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
    display_name: str | None = None
    bio: str | None = None
    website: str | None = None
    avatar_urls: dict[str, str] = field(default_factory=dict)
    theme: str = Theme.AUTO  # "auto" (as the system is set), "light" or "dark"


@dataclass
class AvatarIn:
    # For the document only: the view reads the multipart form itself.
    file: Annotated[File, Field(description="A JPEG, PNG, GIF, WebP, HEIC or AVIF photo.")]
    crop_left: int | None = None
    crop_top: int | None = None
    crop_side: int | None = None


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
        display_name=user.display_name,
        bio=user.bio,
        website=user.website,
        avatar_urls=avatar_urls(user, resources().storage),
        theme=user.theme,
    )


@dataclass
class ProfileIn:
    """The fields to change; a field left out keeps its value, an empty one clears it."""

    display_name: str | None = None
    bio: str | None = None
    website: str | None = None


@bp.patch("/me/profile")  # type: ignore[type-var]
@permission_required()  # a locked account's words stay as they were
@tag(["account"])
@validate_json(ProfileIn)
@document_response(ProfileOut)
@answers(400, 401)
@rate_limit_exempt("the caller's own profile words; saving them again changes nothing")
async def update_profile(data: ProfileIn) -> ProfileOut:
    """Change your display name (up to 50 characters), bio (up to 300; its web
    addresses and hashtags become links) or website (one http or https address)."""
    use = resources()
    user = require_user()
    text = profiles.check_profile(
        user.display_name if data.display_name is None else data.display_name,
        user.bio if data.bio is None else data.bio,
        user.website if data.website is None else data.website,
    )
    await profiles.update_profile(use.db, use.redis, user, text)
    return profile_out(user, use.storage)


@bp.put("/me/avatar")  # type: ignore[type-var]
@accepts_uploads
@permission_required()
@tag(["account"])
@document_request(AvatarIn, source=DataSource.FORM_MULTIPART)
@document_response(ProfileOut)
@answers(400, 401, 413, 415, 422)
@rate_limited("uploads", counted_in_view=True)
async def set_avatar() -> ProfileOut:
    """A new avatar: multipart ``file`` and, optionally, the square to keep
    (``crop_left``, ``crop_top``, ``crop_side`` in the upright photo's pixels;
    the centre without them). 400 if the square is not inside the photo."""
    await change_avatar()
    return profile_out(require_user(), resources().storage)


@bp.delete("/me/avatar")
@tag(["account"])
@answers(204, 401)
@rate_limit_exempt("removes the caller's own avatar; removing it again changes nothing")
async def remove_avatar() -> Response:
    """Back to the generated avatar (your initials); the stored files are removed."""
    use = resources()
    await profiles.remove_avatar(use.db, use.storage, use.redis, require_user())
    return Response(b"", status=204)


@dataclass
class AppearanceIn:
    theme: str  # "auto", "light" or "dark"


@bp.put("/me/appearance")  # type: ignore[type-var]
@tag(["account"])
@validate_json(AppearanceIn)
@document_response(AppearanceIn)
@answers(400, 401)
@rate_limit_exempt("a setting of the caller's own; setting it again changes nothing")
async def set_appearance(data: AppearanceIn) -> AppearanceIn:
    """The colour mode of your pages: ``auto`` (as your system is set), ``light`` or ``dark``."""
    theme = profiles.check_theme(data.theme)
    await profiles.set_theme(resources().db, require_user(), theme)
    return AppearanceIn(theme=theme.value)


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


# The challenge of a passkey ceremony under way, in the server-side session
# until the browser's answer (one answer per challenge).
PASSKEY_REGISTRATION_KEY = "passkey_registration"


@dataclass
class PasskeyOut:
    id: int
    name: str
    created_at: str
    last_used_at: str | None


@dataclass
class PasskeyList:
    items: list[PasskeyOut]


def passkey_out(passkey: Passkey) -> PasskeyOut:
    return PasskeyOut(
        id=passkey.id,
        name=passkey.name,
        created_at=iso_utc(passkey.created_at),
        last_used_at=iso_utc(passkey.last_used_at) if passkey.last_used_at else None,
    )


@bp.get("/me/passkeys")  # type: ignore[type-var]
@tag(["account"])
@document_response(PasskeyList)
@answers(401)
async def list_passkeys() -> PasskeyList:
    """Your passkeys, oldest first."""
    use = resources()
    return PasskeyList(
        items=[passkey_out(key) for key in await passkeys.passkeys_of(use.db, require_user())]
    )


@dataclass
class PasskeyOptions:
    """WebAuthn's ``PublicKeyCredentialCreationOptions`` as JSON (rp, user,
    pubKeyCredParams, authenticatorSelection, excludeCredentials… besides these)."""

    challenge: str  # base64url
    timeout: int  # milliseconds


@bp.post("/me/passkeys/options")
@tag(["account"])
@document_response(PasskeyOptions)
@answers(400, 401)
@rate_limit_exempt("a challenge for the caller's own account; it only replaces the last one")
async def passkey_registration_options() -> Response:
    """Step 1 of adding a passkey: the options for ``navigator.credentials.create``
    (WebAuthn ``PublicKeyCredentialCreationOptions`` as JSON, binary fields base64url)."""
    use = resources()
    ceremony = await passkeys.registration_ceremony(use.db, require_user(), relying_party())
    session[PASSKEY_REGISTRATION_KEY] = passkeys.bytes_to_base64url(ceremony.challenge)
    return Response(ceremony.options_json, content_type="application/json")


@dataclass
class NewPasskey:
    name: str
    # What the browser's PublicKeyCredential gave, as JSON (binary fields base64url).
    credential: dict[str, Any]


@bp.post("/me/passkeys")  # type: ignore[type-var]
@tag(["account"])
@validate_json(NewPasskey)
@document_response(PasskeyOut, 201)
@answers(400, 401)
@rate_limit_exempt("answers the caller's own challenge, which works once")
async def add_passkey(data: NewPasskey) -> tuple[PasskeyOut, int]:
    """Step 2: the credential the authenticator made, checked (challenge, origin,
    signature, user verification) and kept under ``name``."""
    use = resources()
    user = require_user()
    challenge = session.pop(PASSKEY_REGISTRATION_KEY, None)
    if not isinstance(challenge, str):
        raise InvalidInput("Start again: ask for new options first.", field="credential")
    passkey = await passkeys.register(
        use.db,
        user,
        relying_party(),
        passkeys.base64url_to_bytes(challenge),
        data.credential,
        data.name,
    )
    return passkey_out(passkey), 201


@dataclass
class PasskeyName:
    name: str


@bp.patch("/me/passkeys/<int:passkey_id>")  # type: ignore[type-var]
@tag(["account"])
@validate_json(PasskeyName)
@document_response(PasskeyOut)
@answers(400, 401, 404)
@rate_limit_exempt("renames one of the caller's own passkeys")
async def rename_passkey(passkey_id: int, data: PasskeyName) -> PasskeyOut:
    use = resources()
    return passkey_out(await passkeys.rename(use.db, require_user(), passkey_id, data.name))


@bp.delete("/me/passkeys/<int:passkey_id>")
@tag(["account"])
@answers(204, 401, 404)
@rate_limit_exempt("removes one of the caller's own passkeys")
async def remove_passkey(passkey_id: int) -> Response:
    """The passkey no longer signs you in (the device may still list it)."""
    await passkeys.remove(resources().db, require_user(), passkey_id)
    return Response(b"", status=204)


@dataclass
class NoticeSettings:
    """Each kind of notice, on (made) or off (not made at all)."""

    like: bool
    comment: bool
    follow: bool
    follow_request: bool
    follow_accepted: bool


@dataclass
class NoticeSettingsIn:
    """The kinds to change; a kind left out keeps its setting."""

    like: Annotated[bool | None, Field(strict=True)] = None
    comment: Annotated[bool | None, Field(strict=True)] = None
    follow: Annotated[bool | None, Field(strict=True)] = None
    follow_request: Annotated[bool | None, Field(strict=True)] = None
    follow_accepted: Annotated[bool | None, Field(strict=True)] = None


def notice_settings_of(user: User) -> NoticeSettings:
    off = notifications.kinds_off(user)
    return NoticeSettings(**{kind.value: kind not in off for kind in NotificationKind})


@bp.get("/me/notification-settings")  # type: ignore[type-var]
@tag(["account"])
@document_response(NoticeSettings)
@answers(401)
async def get_notice_settings() -> NoticeSettings:
    return notice_settings_of(require_user())


@bp.put("/me/notification-settings")  # type: ignore[type-var]
@tag(["account"])
@validate_json(NoticeSettingsIn)
@document_response(NoticeSettings)
@answers(400, 401)
@rate_limit_exempt("a setting of the caller's own; setting it again changes nothing")
async def set_notice_settings(data: NoticeSettingsIn) -> NoticeSettings:
    """Turn kinds of notice on or off; one turned off is not made at all."""
    user = require_user()
    off = notifications.kinds_off(user)
    for kind in NotificationKind:
        wanted = getattr(data, kind.value)
        if wanted is True:
            off.discard(kind)
        elif wanted is False:
            off.add(kind)
    await notifications.set_kinds_off(resources().db, user, off)
    return notice_settings_of(user)


@dataclass
class ExportOut:
    id: int
    # "waiting", "building", "ready" (``archive_url`` downloads it), "failed" or "expired".
    status: str
    requested_at: str
    finished_at: str | None = None
    expires_at: str | None = None
    size_bytes: int | None = None
    archive_url: str | None = None


@dataclass
class ExportList:
    exports: list[ExportOut]


def export_out(export: DataExport) -> ExportOut:
    ready = export.status == ExportStatus.READY
    return ExportOut(
        id=export.id,
        status=export.status,
        requested_at=iso_utc(export.requested_at),
        finished_at=iso_utc(export.finished_at) if export.finished_at else None,
        expires_at=iso_utc(export.expires_at) if export.expires_at else None,
        size_bytes=export.size_bytes,
        archive_url=f"/api/v1/me/exports/{export.id}/archive" if ready else None,
    )


@bp.get("/me/exports")  # type: ignore[type-var]
@tag(["account"])
@document_response(ExportList)
@answers(401)
async def list_exports() -> ExportList:
    """The caller's latest data exports ("Download my data"), newest first."""
    found = await exports.exports_of(resources().db, require_user())
    return ExportList(exports=[export_out(export) for export in found])


@bp.post("/me/exports")  # type: ignore[type-var]
@tag(["account"])
@document_response(ExportOut, 202)
@answers(401, 409, 429)
@rate_limit_exempt("one archive a day per account, which the service counts in the database")
async def request_export() -> tuple[ExportOut, int]:
    """Ask for an archive of everything the account made (JSON and the original
    photos, as a zip). It is built in the background; a mail says when it is
    ready, and ``GET /me/exports`` shows its status. One a day: 429 with
    ``Retry-After`` before then, 409 while one is being made."""
    export = await exports.request_export(resources().db, require_user())
    return export_out(export), 202


@bp.get("/me/exports/<int:export_id>/archive")
@tag(["account"])
@answers_file("application/zip", "The archive: a zip of JSON files and the photos.")
@answers(401, 404)
async def download_export(export_id: int) -> ResponseReturnValue:
    """The zip of a ready export (``application/zip``), streamed; 404 once it expired."""
    return await archive_response(require_user(), export_id)

"""The settings pages (``/settings/...``): profile and avatar, notifications,
appearance, security (passkeys, two-factor sign-in), "Your data" (the export)
and deleting the account.

The account's username, e-mail, password, sessions and privacy switches are
on ``/account`` (web/auth.py), which shares these pages' navigation.
"""

from __future__ import annotations

from quart import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from quart.typing import ResponseReturnValue
from quart_auth import logout_user

from gallery.infra.storage import StoredFileMissing
from gallery.models.base import utcnow
from gallery.models.user import AVATAR_SIZES, Theme, User
from gallery.services import (
    deletion,
    exports,
    notifications,
    passkeys,
    profiles,
    two_factor,
)
from gallery.services.errors import Conflict, InvalidInput, NotFoundError, Rejected, TooSoon
from gallery.web.actions import change_avatar
from gallery.web.body_limits import accepts_uploads
from gallery.web.current_user import require_user
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import (
    count_guess_on_account,
    rate_limit_exempt,
    rate_limited,
)
from gallery.web.resources import resources
from gallery.web.shapes import avatar_url

bp = Blueprint("settings", __name__, url_prefix="/settings")

THEME_CHOICES = (
    (Theme.AUTO, "Follow my system", "Light or dark as your device is set, changing with it."),
    (Theme.LIGHT, "Light", "Dark text on light backgrounds, whatever the device says."),
    (Theme.DARK, "Dark", "Light text on dark backgrounds, easier on the eyes at night."),
)


@bp.get("/")
async def index() -> ResponseReturnValue:
    require_user()
    return redirect(url_for("settings.profile"), 303)


async def render_profile(
    values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    user = require_user()
    storage = resources().storage
    shown = values or {
        "display_name": user.display_name or "",
        "bio": user.bio or "",
        "website": user.website or "",
    }
    return await render_template(
        "settings/profile.html",
        values=shown,
        errors=errors or {},
        avatar={
            "url": avatar_url(user, storage, 160),
            "url_2x": avatar_url(user, storage, 320),
            "uploaded": bool(user.avatar_key),
        },
        limits={
            "display_name": profiles.DISPLAY_NAME_MAX_LENGTH,
            "bio": profiles.BIO_MAX_LENGTH,
            "website": profiles.WEBSITE_MAX_LENGTH,
        },
        avatar_sizes=AVATAR_SIZES,
    ), status


@bp.get("/profile")
async def profile() -> ResponseReturnValue:
    """Display name, bio, website and avatar."""
    return await render_profile()


@bp.post("/profile")
@permission_required()  # a locked account's words stay as they were
@rate_limit_exempt("the caller's own profile words; saving them again changes nothing")
async def save_profile() -> ResponseReturnValue:
    use = resources()
    user = require_user()
    form = await request.form
    values = {name: form.get(name, "") for name in ("display_name", "bio", "website")}
    try:
        text = profiles.check_profile(values["display_name"], values["bio"], values["website"])
    except InvalidInput as error:
        return await render_profile(values, {error.field or "form": error.message}, 400)
    await profiles.update_profile(use.db, use.redis, user, text)
    await flash("Your profile is saved.", "success")
    return redirect(url_for("settings.profile"), 303)


@bp.post("/profile/avatar")
@accepts_uploads
@permission_required()
@rate_limited("uploads", counted_in_view=True)
async def upload_avatar() -> ResponseReturnValue:
    """A new avatar: the photo and the square chosen in it (the centre without JavaScript)."""
    try:
        await change_avatar()
    except (InvalidInput, Rejected) as error:
        # Rejected (not an image, damaged, too large) is shown like bad input:
        # the page again, the reason under the avatar field.
        status = error.status if isinstance(error, Rejected) else 400
        return await render_profile(errors={"avatar": error.message}, status=status)
    await flash("Your avatar is changed.", "success")
    return redirect(url_for("settings.profile"), 303)


@bp.post("/profile/avatar/remove")
@rate_limit_exempt("removes the caller's own avatar; removing it again changes nothing")
async def remove_avatar() -> ResponseReturnValue:
    use = resources()
    await profiles.remove_avatar(use.db, use.storage, use.redis, require_user())
    await flash("Your avatar is removed: your initials stand in.", "success")
    return redirect(url_for("settings.profile"), 303)


@bp.get("/appearance")
async def appearance() -> ResponseReturnValue:
    """Light, dark, or as the system is set."""
    require_user()
    return await render_template("settings/appearance.html", choices=THEME_CHOICES)


@bp.post("/appearance")
@rate_limit_exempt("a setting of the caller's own; setting it again changes nothing")
async def save_appearance() -> ResponseReturnValue:
    user = require_user()
    try:
        theme = profiles.check_theme((await request.form).get("theme"))
    except InvalidInput as error:
        await flash(error.message, "danger")
        return redirect(url_for("settings.appearance"), 303)
    await profiles.set_theme(resources().db, user, theme)
    await flash("Your appearance setting is saved.", "success")
    return redirect(url_for("settings.appearance"), 303)


# The secret offered while two-factor sign-in is being set up: in the
# server-side session until a code proves the app has it.
ENROLMENT_KEY = "totp_enrolment"


async def render_security(
    errors: dict[str, str] | None = None, status: int = 200
) -> ResponseReturnValue:
    use = resources()
    user = require_user()
    return await render_template(
        "settings/security.html",
        errors=errors or {},
        unused_codes=await two_factor.unused_recovery_codes(use.db, user)
        if user.has_two_factor
        else 0,
        passkeys=await passkeys.passkeys_of(use.db, user),
    ), status


@bp.get("/security")
async def security() -> ResponseReturnValue:
    """Two-factor sign-in: set up, new recovery codes, turn off."""
    return await render_security()


async def render_enrolment(secret: str | None, error: str | None = None) -> ResponseReturnValue:
    user = require_user()
    enrolment = two_factor.new_enrolment(user, secret)
    session[ENROLMENT_KEY] = enrolment.secret
    return await render_template(
        "settings/two_factor_setup.html",
        enrolment=enrolment,
        secret_groups=[enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4)],
        error=error,
    ), 400 if error else 200


@bp.post("/security/two-factor/setup")
@rate_limit_exempt("shows a new secret to the signed-in account; nothing is kept yet")
async def two_factor_setup() -> ResponseReturnValue:
    if require_user().has_two_factor:
        return redirect(url_for("settings.security"), 303)
    return await render_enrolment(None)


@bp.post("/security/two-factor/confirm")
@rate_limited("sign-ins-by-account", counted_in_view=True)
async def two_factor_confirm() -> ResponseReturnValue:
    """A code of the app proves it has the secret: two-factor is on, the
    recovery codes are shown, once."""
    use = resources()
    user = require_user()
    secret = session.get(ENROLMENT_KEY)
    if user.has_two_factor or not isinstance(secret, str):
        return redirect(url_for("settings.security"), 303)
    await count_guess_on_account(user)
    try:
        codes = await two_factor.enable(use.db, user, secret, (await request.form).get("code", ""))
    except InvalidInput as error:
        return await render_enrolment(secret, error.message)
    session.pop(ENROLMENT_KEY, None)
    return await render_template("settings/recovery_codes.html", codes=codes, first=True)


@bp.post("/security/two-factor/recovery-codes")
@rate_limited("sign-ins-by-account", counted_in_view=True)
async def new_recovery_codes() -> ResponseReturnValue:
    """Ten new recovery codes (the old ones stop working): the password and a code."""
    use = resources()
    user = require_user()
    form = await request.form
    await count_guess_on_account(user)
    try:
        codes = await two_factor.new_recovery_codes(
            use.db, user, password=form.get("password", ""), code=form.get("code", "")
        )
    except InvalidInput as error:
        return await render_security({f"codes_{error.field}": error.message}, 400)
    return await render_template("settings/recovery_codes.html", codes=codes, first=False)


@bp.post("/security/two-factor/disable")
@rate_limited("sign-ins-by-account", counted_in_view=True)
async def two_factor_disable() -> ResponseReturnValue:
    use = resources()
    user = require_user()
    form = await request.form
    await count_guess_on_account(user)
    try:
        await two_factor.disable(
            use.db, user, password=form.get("password", ""), code=form.get("code", "")
        )
    except InvalidInput as error:
        return await render_security({f"off_{error.field}": error.message}, 400)
    await flash("Two-factor sign-in is off: your password alone signs you in.", "warning")
    return redirect(url_for("settings.security"), 303)


@bp.post("/security/passkeys/<int:passkey_id>/rename")
@rate_limit_exempt("renames one of the caller's own passkeys")
async def rename_passkey(passkey_id: int) -> ResponseReturnValue:
    try:
        passkey = await passkeys.rename(
            resources().db, require_user(), passkey_id, (await request.form).get("name")
        )
    except InvalidInput as error:
        await flash(error.message, "danger")
    else:
        await flash(f"The passkey is now called {passkey.name}.", "success")
    return redirect(url_for("settings.security"), 303)


@bp.post("/security/passkeys/<int:passkey_id>/remove")
@rate_limit_exempt("removes one of the caller's own passkeys")
async def remove_passkey(passkey_id: int) -> ResponseReturnValue:
    await passkeys.remove(resources().db, require_user(), passkey_id)
    await flash("The passkey is removed: it no longer signs you in.", "success")
    return redirect(url_for("settings.security"), 303)


@bp.get("/notifications")
async def notification_settings() -> ResponseReturnValue:
    """Which kinds of notice to get."""
    user = require_user()
    return await render_template(
        "settings/notifications.html",
        kinds=notifications.KIND_LABELS,
        off=notifications.kinds_off(user),
    )


@bp.post("/notifications")
@rate_limit_exempt("a setting of the caller's own; setting it again changes nothing")
async def save_notification_settings() -> ResponseReturnValue:
    user = require_user()
    wanted = notifications.kinds_named((await request.form).getlist("on"))
    await notifications.set_kinds_off(resources().db, user, set(notifications.KIND_LABELS) - wanted)
    await flash("Your notification settings are saved.", "success")
    return redirect(url_for("settings.notification_settings"), 303)


@bp.get("/delete")
async def delete_account_page() -> ResponseReturnValue:
    """The danger zone: delete the account."""
    require_user()
    return await render_template("settings/delete.html", errors={})


@bp.post("/delete")
@rate_limited("sign-ins-by-account", counted_in_view=True)
async def delete_account() -> ResponseReturnValue:
    """Delete the account: the password (and a code when two-factor is on); every
    session ends at once and the account is hidden; the rest goes in the background."""
    use = resources()
    user = require_user()
    form = await request.form
    await count_guess_on_account(user)
    try:
        await deletion.delete_own_account(
            use.db,
            use.redis,
            use.sign_ins,
            user,
            password=form.get("password", ""),
            code=form.get("code", ""),
        )
    except InvalidInput as error:
        return await render_template(
            "settings/delete.html", errors={error.field or "form": error.message}
        ), 400
    logout_user()
    session.clear()
    await flash("Your account is deleted. Goodbye, and thank you for the photos.", "info")
    return redirect(url_for("main.index"), 303)


@bp.get("/data")
async def your_data() -> ResponseReturnValue:
    """ "Download my data": ask for an archive, and download the ones that are ready."""
    user = require_user()
    return await render_template(
        "settings/data.html",
        exports=await exports.exports_of(resources().db, user),
        now=utcnow(),
        valid_days=exports.VALID_DAYS,
        readable_size=exports.readable_size,
    )


@bp.post("/data")
@rate_limit_exempt("one archive a day per account, which the service counts in the database")
async def request_data_export() -> ResponseReturnValue:
    user = require_user()
    try:
        await exports.request_export(resources().db, user)
    except (Conflict, TooSoon) as error:
        await flash(error.message, "warning")
    else:
        await flash(
            "Your archive is being made. We will mail you a link when it is ready; "
            "it usually takes a few minutes.",
            "success",
        )
    return redirect(url_for("settings.your_data"), 303)


@bp.get("/data/<int:export_id>/download")
async def download_data_export(export_id: int) -> ResponseReturnValue:
    """The archive, streamed from the export storage to its owner (and nobody else)."""
    return await archive_response(require_user(), export_id)


async def archive_response(user: User, export_id: int) -> ResponseReturnValue:
    """``user``'s archive as a download: streamed, never cached by anyone but the browser.

    Shared with the API (``GET /api/v1/me/exports/<id>/archive``).
    """
    use = resources()
    export = await exports.downloadable(use.db, user, export_id)
    assert export.archive_key is not None
    try:
        pieces = await use.export_storage.open_stream(export.archive_key, exports.CHUNK_BYTES)
    except StoredFileMissing as error:
        raise NotFoundError("The archive is gone; ask for a new one.") from error
    headers = {
        "Content-Disposition": f'attachment; filename="{exports.archive_name(user, export)}"',
        "Cache-Control": "private, no-store",
    }
    if export.size_bytes is not None:
        headers["Content-Length"] = str(export.size_bytes)
    response = Response(pieces, mimetype="application/zip", headers=headers)
    # Gigabytes on a slow line take longer than Quart's minute for a response.
    response.timeout = None
    return response

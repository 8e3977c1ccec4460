"""The settings pages (``/settings/...``): profile and avatar, appearance.

The account's password, sessions and privacy switches are on ``/account``
(web/auth.py), which shares these pages' navigation.
"""

from __future__ import annotations

from quart import Blueprint, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.models.user import AVATAR_SIZES, Theme
from gallery.services import profiles
from gallery.services.errors import InvalidInput, Rejected
from gallery.web.actions import change_avatar
from gallery.web.body_limits import accepts_uploads
from gallery.web.current_user import require_user
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import rate_limit_exempt, rate_limited
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
        theme = profiles.set_theme_choice((await request.form).get("theme"))
    except InvalidInput as error:
        await flash(error.message, "danger")
        return redirect(url_for("settings.appearance"), 303)
    await profiles.set_theme(resources().db, user, theme)
    await flash("Your appearance setting is saved.", "success")
    return redirect(url_for("settings.appearance"), 303)

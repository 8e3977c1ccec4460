"""Profile pages."""

from __future__ import annotations

from quart import Blueprint, Response, abort, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.infra.storage import IMMUTABLE_CACHE_CONTROL
from gallery.models.user import Permission, User
from gallery.services import avatars, privacy, relations, social, usernames, users, visibility
from gallery.services.errors import NotFoundError
from gallery.services.moderation import REASON_MAX_LENGTH
from gallery.services.permissions import can, outranks
from gallery.web.current_user import signed_in_user
from gallery.web.feed_pages import author_page, author_page_in_full, feed_items
from gallery.web.resources import resources
from gallery.web.shapes import avatar_url, iso_utc

bp = Blueprint("users", __name__)

PROFILE_PAGE_SIZE = 24


def moderation_panel(viewer: User | None, user: User) -> dict[str, object] | None:
    """What a moderator sees of an account on its profile: role, lock, and the lock form.

    ``None`` for everyone else: whether someone is locked, and why, is between
    them and the moderators.
    """
    if viewer is None or not can(viewer, Permission.MODERATE):
        return None
    return {
        "account": {"id": user.id, "username": user.username, "is_locked": user.is_locked},
        "role": user.role_name,
        "locked_at": iso_utc(user.locked_at) if user.locked_at else None,
        "lock_reason": user.lock_reason or "",
        "manageable": outranks(viewer, user),
        "back": url_for("users.profile", username=user.username),
        "reason_max_length": REASON_MAX_LENGTH,
    }


@bp.get("/avatars/<int:hue>/<letters>.svg")
async def generated_avatar(hue: int, letters: str) -> ResponseReturnValue:
    """A generated avatar, drawn from its address alone (no query): cached forever."""
    if not avatars.valid_generated(letters, hue):
        abort(404)
    response = Response(avatars.generated_avatar_svg(letters, hue), content_type="image/svg+xml")
    response.headers["Cache-Control"] = IMMUTABLE_CACHE_CONTROL
    return response


@bp.get("/u/<username>")
async def profile(username: str) -> ResponseReturnValue:
    use = resources()
    session = use.db
    storage = use.storage
    viewer = signed_in_user()
    try:
        found = await users.profile(session, username, viewer)
    except NotFoundError:
        # A name given up lately leads to the account's new one while it is reserved.
        current = await usernames.renamed_to(session, username)
        if current is None:
            raise
        # Across a block, not even where the account went is told.
        await users.find_visible(session, current, viewer)
        return redirect(url_for("users.profile", username=current))

    user = found.user
    cursor = request.args.get("cursor")
    in_full = await visibility.sees_everything_of(session, viewer, user.id)
    page = await feed_items(
        *(author_page_in_full if in_full else author_page)(user.id, PROFILE_PAGE_SIZE, cursor),
        spare_hidden=False,
    )
    counts = await social.follow_counts(session, user.id)
    return await render_template(
        "users/profile.html",
        profile={
            "id": user.id,
            "username": user.username,
            "avatar_url": avatar_url(user, storage, 160),
            "avatar_url_2x": avatar_url(user, storage, 320),
            "display_name": user.display_name,
            "bio": user.bio,
            "website": user.website,
            "created_at": iso_utc(user.created_at),
            "image_count": found.image_count,
            "follower_count": counts.followers,
            "following_count": counts.following,
            "is_private": user.is_private,
        },
        following=await social.is_following(session, viewer.id if viewer else None, user.id),
        requested=user.is_private
        and await privacy.has_requested(session, viewer.id if viewer else None, user.id),
        # A private account's posts are for its followers: the others see a notice.
        shut_out=user.is_private and not in_full,
        muted=await relations.is_muted(session, viewer, user.id),
        items=page["items"],
        next_cursor=page["next_cursor"],
        feed_url=url_for("api.images.user_images", username=user.username),
        page_size=PROFILE_PAGE_SIZE,
        more_url=url_for("users.profile", username=user.username, cursor=page["next_cursor"])
        if page["next_cursor"]
        else None,
        is_self=viewer is not None and viewer.id == user.id,
        moderation=moderation_panel(viewer, user),
    )

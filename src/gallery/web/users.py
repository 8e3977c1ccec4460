"""Profile pages."""

from __future__ import annotations

from dataclasses import asdict

from quart import Blueprint, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.infra.runtime import current_storage, request_db
from gallery.services import feeds, social, users
from gallery.web.api.schemas import avatar_url, image_out, iso_utc
from gallery.web.current_user import signed_in_user

bp = Blueprint("users", __name__)

PROFILE_PAGE_SIZE = 24


@bp.get("/u/<username>")
async def profile(username: str) -> ResponseReturnValue:
    session = await request_db()
    storage = current_storage()
    viewer = signed_in_user()
    found = await users.profile(session, username)
    user = found.user
    page = await feeds.by_author(
        session,
        user.id,
        viewer_id=viewer.id if viewer else None,
        limit=PROFILE_PAGE_SIZE,
        cursor=request.args.get("cursor"),
    )
    counts = await social.follow_counts(session, user.id)
    return await render_template(
        "users/profile.html",
        profile={
            "id": user.id,
            "username": user.username,
            "avatar_url": avatar_url(user, storage),
            "created_at": iso_utc(user.created_at),
            "image_count": found.image_count,
            "follower_count": counts.followers,
            "following_count": counts.following,
        },
        following=await social.is_following(session, viewer.id if viewer else None, user.id),
        items=[asdict(image_out(card, storage)) for card in page.cards],
        next_cursor=page.next_cursor,
        feed_url=url_for("api.user_images", username=user.username),
        page_size=PROFILE_PAGE_SIZE,
        more_url=url_for("users.profile", username=user.username, cursor=page.next_cursor)
        if page.next_cursor
        else None,
        is_self=viewer is not None and viewer.id == user.id,
    )

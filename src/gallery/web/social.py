"""Social pages: the following feed, notifications, followers and following lists.

Also the forms behind the like and follow buttons for browsers without
JavaScript (static/js/social.js sends the same changes through the JSON API in
place): each posts, then goes back with a 303 to the page it came from (a
same-site ``next``, never an absolute URL).
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from quart import Blueprint, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.models.user import Permission
from gallery.services import feeds, notifications, people, privacy, relations, saves, social, users
from gallery.web.current_user import require_user, signed_in_user
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import rate_limit_exempt, rate_limited
from gallery.web.resources import resources
from gallery.web.security import return_path
from gallery.web.shapes import author_out, avatar_url, image_out, notification_out

log = logging.getLogger(__name__)

bp = Blueprint("social", __name__)

FOLLOWING_PAGE_SIZE = 12  # as the home page: the same grid
PEOPLE_PAGE_SIZE = 30
NOTIFICATIONS_PAGE_SIZE = 30
SAVED_PAGE_SIZE = 12


# -- the unread count of the bell, on every page -----------------------------


@bp.app_context_processor
async def notification_globals() -> dict[str, object]:
    """``unread_notifications`` for the navbar's bell (0 for anonymous viewers).

    Only rendered templates pay for it, and a signed-in one costs one Redis read
    while nothing changed. A failure here must not take the page down with it
    (error pages render through this too, maybe because the database is gone).
    """
    use = resources()
    viewer = signed_in_user()
    if viewer is None:
        return {"unread_notifications": 0}
    try:
        count = await notifications.unread_count(use.db, use.redis, viewer.id)
    except Exception:  # the bell is not worth an error page
        log.exception("Could not count the unread notifications for the navbar")
        count = 0
    return {"unread_notifications": count}


# -- the following feed --------------------------------------------------------


@bp.get("/following")
async def following_feed() -> ResponseReturnValue:
    """Images of the people the viewer follows; scripts go on with the JSON feed."""
    use = resources()
    viewer = require_user()
    page = await feeds.following(
        use.db,
        viewer_id=viewer.id,
        limit=FOLLOWING_PAGE_SIZE,
        cursor=request.args.get("cursor"),
    )
    storage = use.storage
    return await render_template(
        "social/following.html",
        items=[asdict(image_out(card, storage)) for card in page.cards],
        next_cursor=page.next_cursor,
        feed_url=url_for("api.social.following_feed"),
        page_size=FOLLOWING_PAGE_SIZE,
        more_url=url_for("social.following_feed", cursor=page.next_cursor)
        if page.next_cursor
        else None,
    )


# -- likes without JavaScript --------------------------------------------------


@bp.post("/images/<int:image_id>/like")
@permission_required()
@rate_limited("likes")
async def like(image_id: int) -> ResponseReturnValue:
    use = resources()
    user = require_user()
    await social.like_image(use.db, use.redis, user=user, image_id=image_id)
    return redirect(await return_path(url_for("images.detail", image_id=image_id)), 303)


@bp.post("/images/<int:image_id>/unlike")
@permission_required()
@rate_limited("likes")
async def unlike(image_id: int) -> ResponseReturnValue:
    use = resources()
    user = require_user()
    await social.unlike_image(use.db, use.redis, user=user, image_id=image_id)
    return redirect(await return_path(url_for("images.detail", image_id=image_id)), 303)


# -- saved for later --------------------------------------------------------------


@bp.post("/images/<int:image_id>/save")
@rate_limited("saves")
async def save(image_id: int) -> ResponseReturnValue:
    """The post's "Save" button without JavaScript (locked accounts may save too)."""
    use = resources()
    await saves.save_post(use.db, use.redis, user=require_user(), image_id=image_id)
    return redirect(await return_path(url_for("images.detail", image_id=image_id)), 303)


@bp.post("/images/<int:image_id>/unsave")
@rate_limited("saves")
async def unsave(image_id: int) -> ResponseReturnValue:
    use = resources()
    await saves.unsave_post(use.db, use.redis, user=require_user(), image_id=image_id)
    return redirect(await return_path(url_for("images.detail", image_id=image_id)), 303)


@bp.get("/saved")
async def saved() -> ResponseReturnValue:
    """The viewer's saved posts (private), most recently saved first."""
    use = resources()
    viewer = require_user()
    page = await saves.saved_page(
        use.db, user_id=viewer.id, limit=SAVED_PAGE_SIZE, cursor=request.args.get("cursor")
    )
    storage = use.storage
    return await render_template(
        "social/saved.html",
        items=[asdict(image_out(card, storage)) for card in page.cards],
        next_cursor=page.next_cursor,
        feed_url=url_for("api.social.saved_feed"),
        page_size=SAVED_PAGE_SIZE,
        more_url=url_for("social.saved", cursor=page.next_cursor) if page.next_cursor else None,
    )


# -- follows -----------------------------------------------------------------


@bp.post("/u/<username>/follow")
@permission_required(Permission.FOLLOW)
@rate_limited("follows")
async def follow(username: str) -> ResponseReturnValue:
    use = resources()
    user = require_user()
    session = use.db
    state = await social.follow_user(session, use.redis, follower=user, username=username)
    followed = await users.find_by_username(session, username)
    if state.requested:
        await flash(
            f"{followed.username}'s account is private: you asked to follow, and they decide.",
            "info",
        )
    else:
        await flash(f"You now follow {followed.username}.", "success")
    return redirect(await return_path(url_for("users.profile", username=followed.username)), 303)


@bp.post("/u/<username>/unfollow")
@permission_required(Permission.FOLLOW)
@rate_limited("follows")
async def unfollow(username: str) -> ResponseReturnValue:
    use = resources()
    user = require_user()
    session = use.db
    await social.unfollow_user(session, use.redis, follower=user, username=username)
    followed = await users.find_by_username(session, username)
    await flash(f"You no longer follow {followed.username} (or ask to).", "info")
    return redirect(await return_path(url_for("users.profile", username=followed.username)), 303)


# -- mutes ---------------------------------------------------------------------


@bp.post("/u/<username>/mute")
@rate_limited("mutes")
async def mute(username: str) -> ResponseReturnValue:
    """The profile's "Mute" button (any signed-in account, locked or not)."""
    use = resources()
    await relations.mute_user(use.db, use.redis, muter=require_user(), username=username)
    muted = await users.find_by_username(use.db, username)
    await flash(
        f"You muted {muted.username}: their posts and notices no longer reach you. "
        "They are not told.",
        "info",
    )
    return redirect(await return_path(url_for("users.profile", username=muted.username)), 303)


@bp.post("/u/<username>/unmute")
@rate_limited("mutes")
async def unmute(username: str) -> ResponseReturnValue:
    use = resources()
    await relations.unmute_user(use.db, use.redis, muter=require_user(), username=username)
    unmuted = await users.find_by_username(use.db, username)
    await flash(f"You unmuted {unmuted.username}.", "success")
    return redirect(await return_path(url_for("users.profile", username=unmuted.username)), 303)


@bp.get("/muted")
async def muted() -> ResponseReturnValue:
    """The accounts the viewer muted, most recent first, each with an Unmute button."""
    use = resources()
    viewer = require_user()
    page = await relations.muted_page(
        use.db, muter_id=viewer.id, limit=PEOPLE_PAGE_SIZE, cursor=request.args.get("cursor")
    )
    return await relation_list_page("muted", page)


async def relation_list_page(kind: str, page: people.UserPage) -> ResponseReturnValue:
    """``/muted`` or ``/blocked`` (``kind``): one template, its words chosen by ``kind``."""
    return await render_template(
        "social/relations.html",
        kind=kind,
        people=[asdict(author_out(person, resources().storage)) for person in page.users],
        more_url=url_for(f"social.{kind}", cursor=page.next_cursor) if page.next_cursor else None,
    )


# -- follow requests -------------------------------------------------------------


@bp.get("/follow-requests")
async def follow_requests() -> ResponseReturnValue:
    """Who asked to follow the viewer's private account, each with Accept and Decline."""
    use = resources()
    viewer = require_user()
    page = await privacy.requests_page(
        use.db, owner_id=viewer.id, limit=PEOPLE_PAGE_SIZE, cursor=request.args.get("cursor")
    )
    return await render_template(
        "social/requests.html",
        people=[asdict(author_out(person, use.storage)) for person in page.users],
        more_url=url_for("social.follow_requests", cursor=page.next_cursor)
        if page.next_cursor
        else None,
    )


@bp.post("/follow-requests/<username>/accept")
@rate_limited("follows")
async def accept_request(username: str) -> ResponseReturnValue:
    use = resources()
    requester = await privacy.accept_request(
        use.db, use.redis, owner=require_user(), username=username
    )
    await flash(f"{requester.username} follows you now.", "success")
    return redirect(url_for("social.follow_requests"), 303)


@bp.post("/follow-requests/<username>/decline")
@rate_limited("follows")
async def decline_request(username: str) -> ResponseReturnValue:
    use = resources()
    requester = await privacy.decline_request(
        use.db, use.redis, owner=require_user(), username=username
    )
    await flash(f"You declined {requester.username}'s request. They are not told.", "info")
    return redirect(url_for("social.follow_requests"), 303)


# -- blocks ----------------------------------------------------------------------


@bp.post("/u/<username>/block")
@rate_limited("blocks")
async def block(username: str) -> ResponseReturnValue:
    """The profile's and a post's "Block" button; the profile is gone after it, so
    the list of blocked accounts is where it goes back to."""
    use = resources()
    blocked = await users.find_by_username(use.db, username)
    await relations.block_user(use.db, use.redis, blocker=require_user(), username=username)
    await flash(
        f"You blocked {blocked.username}: neither of you sees the other any more, and "
        "the follows between you ended. They are not told.",
        "info",
    )
    return redirect(url_for("social.blocked"), 303)


@bp.post("/u/<username>/unblock")
@rate_limited("blocks")
async def unblock(username: str) -> ResponseReturnValue:
    use = resources()
    await relations.unblock_user(use.db, use.redis, blocker=require_user(), username=username)
    unblocked = await users.find_by_username(use.db, username)
    await flash(f"You unblocked {unblocked.username}.", "success")
    return redirect(await return_path(url_for("social.blocked")), 303)


@bp.get("/blocked")
async def blocked() -> ResponseReturnValue:
    """The accounts the viewer blocked, most recent first, each with an Unblock button."""
    use = resources()
    viewer = require_user()
    page = await relations.blocked_page(
        use.db, blocker_id=viewer.id, limit=PEOPLE_PAGE_SIZE, cursor=request.args.get("cursor")
    )
    return await relation_list_page("blocked", page)


async def people_page(username: str, which: str) -> ResponseReturnValue:
    """``/u/<username>/followers`` or ``/following``: avatars and names, cursor paging."""
    use = resources()
    session = use.db
    storage = use.storage
    viewer = signed_in_user()
    user = await users.find_visible(session, username, viewer)
    list_people = social.list_followers if which == "followers" else social.list_following
    page = await list_people(
        session,
        user.id,
        viewer_id=viewer.id if viewer else None,
        limit=PEOPLE_PAGE_SIZE,
        cursor=request.args.get("cursor"),
    )
    counts = await social.follow_counts(session, user.id)
    endpoint = f"social.{which}"
    return await render_template(
        "social/people.html",
        which=which,
        profile={
            "id": user.id,
            "username": user.username,
            "avatar_url": avatar_url(user, storage),
            "follower_count": counts.followers,
            "following_count": counts.following,
        },
        following=await social.is_following(session, viewer.id if viewer else None, user.id),
        people=[asdict(author_out(person, storage)) for person in page.users],
        more_url=url_for(endpoint, username=user.username, cursor=page.next_cursor)
        if page.next_cursor
        else None,
    )


@bp.get("/u/<username>/followers")
async def followers(username: str) -> ResponseReturnValue:
    return await people_page(username, "followers")


@bp.get("/u/<username>/following")
async def following(username: str) -> ResponseReturnValue:
    return await people_page(username, "following")


# -- notifications -------------------------------------------------------------


@bp.get("/notifications", endpoint="notifications")
async def notifications_page() -> ResponseReturnValue:
    """The viewer's notices, newest first, unread ones highlighted."""
    use = resources()
    user = require_user()
    page = await notifications.list_notifications(
        use.db,
        use.redis,
        user_id=user.id,
        limit=NOTIFICATIONS_PAGE_SIZE,
        cursor=request.args.get("cursor"),
    )
    storage = use.storage
    return await render_template(
        "social/notifications.html",
        notices=[asdict(notification_out(entry, storage)) for entry in page.entries],
        unread_count=page.unread_count,
        more_url=url_for("social.notifications", cursor=page.next_cursor)
        if page.next_cursor
        else None,
    )


@bp.post("/notifications/<int:notification_id>/read")
@rate_limit_exempt("marks the caller's own notification read; repeating it is a no-op")
async def mark_read(notification_id: int) -> ResponseReturnValue:
    use = resources()
    user = require_user()
    await notifications.mark_read(
        use.db, use.redis, user_id=user.id, notification_id=notification_id
    )
    default = url_for("social.notifications") + f"#notification-{notification_id}"
    return redirect(await return_path(default), 303)


@bp.post("/notifications/read-all")
@rate_limit_exempt("marks the caller's own notifications read; repeating it is a no-op")
async def mark_all_read() -> ResponseReturnValue:
    use = resources()
    user = require_user()
    await notifications.mark_all_read(use.db, use.redis, user_id=user.id)
    await flash("All notifications are marked as read.", "success")
    return redirect(await return_path(url_for("social.notifications")), 303)

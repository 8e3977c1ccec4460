"""Likes, follows, the following feed and notifications in the JSON API."""

from __future__ import annotations

from quart import Blueprint, Response
from quart_schema import document_response, tag

from gallery.models.user import Permission
from gallery.services import feeds, notifications, people, privacy, relations, saves, social, users
from gallery.web.conditional import conditional_json
from gallery.web.current_user import require_user, signed_in_user, viewer_id
from gallery.web.json_routes import answers
from gallery.web.permissions import permission_required
from gallery.web.querystring import PageQuery, validate_query
from gallery.web.rate_limits import rate_limit_exempt, rate_limited
from gallery.web.resources import resources
from gallery.web.shapes import (
    BlockOut,
    Feed,
    FollowOut,
    FollowRequestAnswer,
    LikeOut,
    MuteOut,
    NotificationList,
    SaveOut,
    UnreadCount,
    UserList,
    author_out,
    feed_of,
    notification_out,
)

bp = Blueprint("social", __name__)

# -- likes -------------------------------------------------------------------


@bp.put("/images/<int:image_id>/like")  # type: ignore[type-var]  # quart-schema serialises
@permission_required()
@tag(["likes"])
@document_response(LikeOut)
@answers(404)
@rate_limited("likes")
async def like_image(image_id: int) -> LikeOut:
    """Like an image. Liking it again changes nothing (idempotent)."""
    use = resources()
    user = require_user()
    state = await social.like_image(use.db, use.redis, user=user, image_id=image_id)
    return LikeOut(liked=state.liked, like_count=state.like_count)


@bp.delete("/images/<int:image_id>/like")  # type: ignore[type-var]
@permission_required()
@tag(["likes"])
@document_response(LikeOut)
@answers(404)
@rate_limited("likes")
async def unlike_image(image_id: int) -> LikeOut:
    """Withdraw your like. Unliking what you never liked changes nothing."""
    use = resources()
    user = require_user()
    state = await social.unlike_image(use.db, use.redis, user=user, image_id=image_id)
    return LikeOut(liked=state.liked, like_count=state.like_count)


# -- follows -----------------------------------------------------------------


@bp.put("/users/<username>/follow")  # type: ignore[type-var]
@permission_required(Permission.FOLLOW)
@tag(["follows"])
@document_response(FollowOut)
@answers(400, 404)
@rate_limited("follows")
async def follow_user(username: str) -> FollowOut:
    """Follow a user (idempotent). Following yourself is 400.

    A private account is asked instead: ``requested`` is true (and ``following``
    false) until its owner accepts.
    """
    use = resources()
    user = require_user()
    state = await social.follow_user(use.db, use.redis, follower=user, username=username)
    return FollowOut(
        following=state.following, follower_count=state.follower_count, requested=state.requested
    )


@bp.delete("/users/<username>/follow")  # type: ignore[type-var]
@permission_required(Permission.FOLLOW)
@tag(["follows"])
@document_response(FollowOut)
@answers(400, 404)
@rate_limited("follows")
async def unfollow_user(username: str) -> FollowOut:
    """Stop following a user, or withdraw a request to follow a private one (idempotent).
    Unfollowing yourself is 400, as following is."""
    use = resources()
    user = require_user()
    state = await social.unfollow_user(use.db, use.redis, follower=user, username=username)
    return FollowOut(following=state.following, follower_count=state.follower_count)


# -- follow requests (to private accounts) --------------------------------------------


@bp.get("/follow-requests")  # type: ignore[type-var]
@tag(["follows"])
@validate_query(PageQuery)
@document_response(UserList)
@answers(401)
async def follow_requests(query_args: PageQuery) -> UserList:
    """Who asked to follow your private account, most recent first (cursor paging)."""
    user = require_user()
    page = await privacy.requests_page(
        resources().db, owner_id=user.id, limit=query_args.limit, cursor=query_args.cursor
    )
    return _user_list(page)


@bp.put("/follow-requests/<username>")  # type: ignore[type-var]
@tag(["follows"])
@document_response(FollowRequestAnswer)
@answers(401, 404)
@rate_limited("follows")
async def accept_follow_request(username: str) -> FollowRequestAnswer:
    """Accept ``username``'s request: they follow you now. 404 without a pending request."""
    use = resources()
    requester = await privacy.accept_request(
        use.db, use.redis, owner=require_user(), username=username
    )
    return FollowRequestAnswer(username=requester.username, accepted=True)


@bp.delete("/follow-requests/<username>")  # type: ignore[type-var]
@tag(["follows"])
@document_response(FollowRequestAnswer)
@answers(401, 404)
@rate_limited("follows")
async def decline_follow_request(username: str) -> FollowRequestAnswer:
    """Decline ``username``'s request (they are not told). 404 without a pending request."""
    use = resources()
    requester = await privacy.decline_request(
        use.db, use.redis, owner=require_user(), username=username
    )
    return FollowRequestAnswer(username=requester.username, accepted=False)


# -- mutes (private: the muted account is not told) --------------------------------


@bp.put("/users/<username>/mute")  # type: ignore[type-var]
@tag(["mutes"])
@document_response(MuteOut)
@answers(400, 401, 404)
@rate_limited("mutes")
async def mute_user(username: str) -> MuteOut:
    """Mute a user (idempotent): their posts leave your feeds and search, their notices
    your notifications; their profile still shows them. Muting yourself is 400."""
    use = resources()
    state = await relations.mute_user(use.db, use.redis, muter=require_user(), username=username)
    return MuteOut(muted=state.muted)


@bp.delete("/users/<username>/mute")  # type: ignore[type-var]
@tag(["mutes"])
@document_response(MuteOut)
@answers(400, 401, 404)
@rate_limited("mutes")
async def unmute_user(username: str) -> MuteOut:
    """Unmute a user (idempotent)."""
    use = resources()
    state = await relations.unmute_user(use.db, use.redis, muter=require_user(), username=username)
    return MuteOut(muted=state.muted)


@bp.get("/mutes")  # type: ignore[type-var]
@tag(["mutes"])
@validate_query(PageQuery)
@document_response(UserList)
@answers(401)
async def muted_users(query_args: PageQuery) -> UserList:
    """Whom you muted, most recent first (cursor paging)."""
    user = require_user()
    page = await relations.muted_page(
        resources().db, muter_id=user.id, limit=query_args.limit, cursor=query_args.cursor
    )
    return _user_list(page)


# -- blocks (private: the blocked account is not told) -------------------------------


@bp.put("/users/<username>/block")  # type: ignore[type-var]
@tag(["blocks"])
@document_response(BlockOut)
@answers(400, 401, 404)
@rate_limited("blocks")
async def block_user(username: str) -> BlockOut:
    """Block a user (idempotent): the follows between you end, and neither of you sees
    the other anywhere any more (their profile and posts answer 404 to each other).
    Blocking yourself is 400."""
    use = resources()
    state = await relations.block_user(use.db, use.redis, blocker=require_user(), username=username)
    return BlockOut(blocked=state.blocked)


@bp.delete("/users/<username>/block")  # type: ignore[type-var]
@tag(["blocks"])
@document_response(BlockOut)
@answers(400, 401, 404)
@rate_limited("blocks")
async def unblock_user(username: str) -> BlockOut:
    """Unblock a user (idempotent); ended follows stay ended."""
    use = resources()
    state = await relations.unblock_user(
        use.db, use.redis, blocker=require_user(), username=username
    )
    return BlockOut(blocked=state.blocked)


@bp.get("/blocks")  # type: ignore[type-var]
@tag(["blocks"])
@validate_query(PageQuery)
@document_response(UserList)
@answers(401)
async def blocked_users(query_args: PageQuery) -> UserList:
    """Whom you blocked, most recent first (cursor paging)."""
    user = require_user()
    page = await relations.blocked_page(
        resources().db, blocker_id=user.id, limit=query_args.limit, cursor=query_args.cursor
    )
    return _user_list(page)


def _user_list(page: people.UserPage) -> UserList:
    storage = resources().storage
    return UserList(
        items=[author_out(u, storage) for u in page.users], next_cursor=page.next_cursor
    )


@bp.get("/users/<username>/followers")
@tag(["follows"])
@validate_query(PageQuery)
@document_response(UserList)
@answers(304, 404)
async def user_followers(username: str, query_args: PageQuery) -> Response:
    """Who follows the user, most recent first (cursor paging)."""

    async def build() -> UserList:
        session = resources().db
        user = await users.find_visible(session, username, signed_in_user())
        page = await social.list_followers(
            session,
            user.id,
            viewer_id=viewer_id(),
            limit=query_args.limit,
            cursor=query_args.cursor,
        )
        return _user_list(page)

    return await conditional_json(build)


@bp.get("/users/<username>/following")
@tag(["follows"])
@validate_query(PageQuery)
@document_response(UserList)
@answers(304, 404)
async def user_following(username: str, query_args: PageQuery) -> Response:
    """Whom the user follows, most recent first (cursor paging)."""

    async def build() -> UserList:
        session = resources().db
        user = await users.find_visible(session, username, signed_in_user())
        page = await social.list_following(
            session,
            user.id,
            viewer_id=viewer_id(),
            limit=query_args.limit,
            cursor=query_args.cursor,
        )
        return _user_list(page)

    return await conditional_json(build)


@bp.get("/feed/following")
@tag(["images", "follows"])
@validate_query(PageQuery)
@document_response(Feed)
@answers(304, 401)
async def following_feed(query_args: PageQuery) -> Response:
    """Images of the people you follow, newest first (cursor paging as ``/feed``)."""
    user = require_user()

    async def build() -> Feed:
        page = await feeds.following(
            resources().db, viewer_id=user.id, limit=query_args.limit, cursor=query_args.cursor
        )
        return feed_of(page, resources().storage)

    return await conditional_json(build)


# -- saved for later ---------------------------------------------------------------


@bp.put("/images/<int:image_id>/save")  # type: ignore[type-var]  # quart-schema serialises
@tag(["saved"])
@document_response(SaveOut)
@answers(401, 404)
@rate_limited("saves")
async def save_image(image_id: int) -> SaveOut:
    """Save a post for later (private; again changes nothing). Locked accounts may too."""
    use = resources()
    user = require_user()
    state = await saves.save_post(use.db, use.redis, user=user, image_id=image_id)
    return SaveOut(saved=state.saved)


@bp.delete("/images/<int:image_id>/save")  # type: ignore[type-var]
@tag(["saved"])
@document_response(SaveOut)
@answers(401, 404)  # 404: an id outside the column's range matches no route
@rate_limited("saves")
async def unsave_image(image_id: int) -> SaveOut:
    """Take a post off your saved list (not there is fine)."""
    use = resources()
    user = require_user()
    state = await saves.unsave_post(use.db, use.redis, user=user, image_id=image_id)
    return SaveOut(saved=state.saved)


@bp.get("/saved")
@tag(["saved"])
@validate_query(PageQuery)
@document_response(Feed)
@answers(304, 401)
async def saved_feed(query_args: PageQuery) -> Response:
    """Your saved posts, most recently saved first (cursor paging as ``/feed``)."""
    user = require_user()

    async def build() -> Feed:
        page = await saves.saved_page(
            resources().db, user_id=user.id, limit=query_args.limit, cursor=query_args.cursor
        )
        return feed_of(page, resources().storage)

    return await conditional_json(build)


# -- notifications -------------------------------------------------------------


@bp.get("/notifications")
@tag(["notifications"])
@validate_query(PageQuery)
@document_response(NotificationList)
@answers(304, 401)
async def list_notifications(query_args: PageQuery) -> Response:
    """Your notifications, newest first (cursor paging), with the unread count."""
    user = require_user()
    redis = resources().redis

    async def build() -> NotificationList:
        use = resources()
        page = await notifications.list_notifications(
            use.db,
            redis,
            user_id=user.id,
            limit=query_args.limit,
            cursor=query_args.cursor,
        )
        storage = use.storage
        return NotificationList(
            items=[notification_out(entry, storage) for entry in page.entries],
            next_cursor=page.next_cursor,
            unread_count=page.unread_count,
        )

    return await conditional_json(build, version=await notifications.version(redis, user.id))


@bp.get("/notifications/unread-count")
@tag(["notifications"])
@document_response(UnreadCount)
@answers(304, 401)
async def unread_count() -> Response:
    """How many notifications are unread. Poll it with ``If-None-Match``: 304 while unchanged."""
    user = require_user()
    redis = resources().redis

    async def build() -> UnreadCount:
        return UnreadCount(
            unread_count=await notifications.unread_count(resources().db, redis, user.id)
        )

    return await conditional_json(build, version=await notifications.version(redis, user.id))


@bp.post("/notifications/<int:notification_id>/read")  # type: ignore[type-var]
@tag(["notifications"])
@document_response(UnreadCount)
@answers(401, 404)
@rate_limit_exempt("marks the caller's own notification read; repeating it is a no-op")
async def mark_notification_read(notification_id: int) -> UnreadCount:
    """Mark one notification read; returns the new unread count."""
    use = resources()
    user = require_user()
    count = await notifications.mark_read(
        use.db, use.redis, user_id=user.id, notification_id=notification_id
    )
    return UnreadCount(unread_count=count)


@bp.post("/notifications/read-all")  # type: ignore[type-var]
@tag(["notifications"])
@document_response(UnreadCount)
@answers(401)
@rate_limit_exempt("marks the caller's own notifications read; repeating it is a no-op")
async def mark_all_notifications_read() -> UnreadCount:
    """Mark every notification read."""
    use = resources()
    user = require_user()
    count = await notifications.mark_all_read(use.db, use.redis, user_id=user.id)
    return UnreadCount(unread_count=count)

"""Who may call which route: every rule of the URL map, as five kinds of visitor.

The table below names, for every (endpoint, method) the app serves, who may
call it. The test walks the URL map: a route missing from the table, or a
table entry for a route that no longer exists, fails it, so a new route cannot
ship without saying who may use it. Each route is then called as

* anonymous (with a CSRF token, so that the refusal is about the sign-in),
* a user, a locked user, a moderator and an administrator,

with targets that belong to a sixth account (the "owner"), built fresh for
each call where the call may consume them. Only the authorisation outcome is
asserted here (refused how, or let through); what each route then does is
tested next to it.

The table also names the rate limits each route spends (entries of
``web/rate_limits.py``), or says that it is exempt: an unsafe route with
neither fails, and so does a column that disagrees with the decorators on the
view (``@rate_limited``, ``@rate_limit_exempt``, which give the reason).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from werkzeug.routing import Map

from gallery.infra.runtime import Runtime
from gallery.infra.storage import new_stem
from gallery.models.base import utcnow
from gallery.models.comment import Comment
from gallery.models.image import Image
from gallery.models.moderation import Report
from gallery.models.user import Role, User
from gallery.services.permissions import LOCKED_MESSAGE
from gallery.web.rate_limits import RATE_LIMITS, declared_limits, exemption_of
from gallery.web.security import UNSAFE_METHODS
from tests.helpers import add_user_row, csrf_token, make_active_user, sign_in
from tests.images import image_row, jpeg_bytes

ROLES_PASSWORD = "correct horse battery"


class Who(Enum):
    ANONYMOUS = "anonymous"
    USER = "user"
    LOCKED = "locked user"
    MODERATOR = "moderator"
    ADMINISTRATOR = "administrator"


class Outcome(Enum):
    ALLOWED = "let through"
    SIGN_IN = "sent to sign in (401 JSON / redirect to /login)"
    FORBIDDEN = "403"
    LOCKED = "refused for the lock (403 JSON / flash and back)"


class Access(Enum):
    """Who may call a route; the expected outcome for each visitor follows."""

    PUBLIC = "anyone"
    SIGNED_IN = "any signed-in account, locked ones too (reading, own account)"
    ACTING = "a signed-in account that is not locked (changing something)"
    OWNER_OR_MODERATOR = "the target's owner (not any of ours) or a moderator"
    AUTHOR = "the target's author only (not any of ours), not even a moderator"
    MODERATOR = "moderators and administrators"
    ADMINISTRATOR = "administrators"


EXPECTED: dict[Access, dict[Who, Outcome]] = {
    Access.PUBLIC: dict.fromkeys(Who, Outcome.ALLOWED),
    Access.SIGNED_IN: {**dict.fromkeys(Who, Outcome.ALLOWED), Who.ANONYMOUS: Outcome.SIGN_IN},
    Access.ACTING: {
        **dict.fromkeys(Who, Outcome.ALLOWED),
        Who.ANONYMOUS: Outcome.SIGN_IN,
        Who.LOCKED: Outcome.LOCKED,
    },
    Access.OWNER_OR_MODERATOR: {
        Who.ANONYMOUS: Outcome.SIGN_IN,
        Who.USER: Outcome.FORBIDDEN,
        Who.LOCKED: Outcome.FORBIDDEN,
        Who.MODERATOR: Outcome.ALLOWED,
        Who.ADMINISTRATOR: Outcome.ALLOWED,
    },
    Access.AUTHOR: {**dict.fromkeys(Who, Outcome.FORBIDDEN), Who.ANONYMOUS: Outcome.SIGN_IN},
    Access.MODERATOR: {
        Who.ANONYMOUS: Outcome.SIGN_IN,
        Who.USER: Outcome.FORBIDDEN,
        Who.LOCKED: Outcome.FORBIDDEN,
        Who.MODERATOR: Outcome.ALLOWED,
        Who.ADMINISTRATOR: Outcome.ALLOWED,
    },
    Access.ADMINISTRATOR: {
        Who.ANONYMOUS: Outcome.SIGN_IN,
        Who.USER: Outcome.FORBIDDEN,
        Who.LOCKED: Outcome.FORBIDDEN,
        Who.MODERATOR: Outcome.FORBIDDEN,
        Who.ADMINISTRATOR: Outcome.ALLOWED,
    },
}


@dataclass
class World:
    """The accounts and content the calls point at."""

    runtime: Runtime
    owner_id: int
    owner_name: str
    image_id: int
    media_key: str
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def fresh_image(self) -> int:
        async with self.runtime.db.session() as session:
            image = image_row(self.owner_id, 10_000 + next(self.counter), "#sea at dawn")
            session.add(image)
            await session.commit()
            return image.id

    async def fresh_comment(self) -> int:
        image_id = await self.fresh_image()
        async with self.runtime.db.session() as session:
            comment = Comment(image_id=image_id, author_id=self.owner_id, content="a comment")
            session.add(comment)
            await session.commit()
            return comment.id

    async def fresh_user(self, *, active: bool = True, locked: bool = False) -> int:
        name = f"target{next(self.counter)}"
        return await add_user_row(
            self.runtime, name, active=active, locked=locked, lock_reason="spam"
        )

    async def reported(self, kind: str) -> int:
        """A fresh image or comment of the owner's with an open report on it."""
        target_id = await (self.fresh_image() if kind == "image" else self.fresh_comment())
        reporter_id = await self.fresh_user()
        async with self.runtime.db.session() as session:
            session.add(
                Report(
                    reporter_id=reporter_id,
                    image_id=target_id if kind == "image" else None,
                    comment_id=target_id if kind == "comment" else None,
                    reason="spam",
                    open_key=Report.open_key_for(reporter_id, kind, target_id),
                )
            )
            await session.commit()
        return target_id


Values = dict[str, Any]
Prepare = Callable[[World], Awaitable[Values]]


def fixed(**values: Any) -> Prepare:
    async def prepare(world: World) -> Values:
        return values

    return prepare


NO_VALUES = fixed()


async def same_image(world: World) -> Values:
    return {"image_id": world.image_id}


async def new_image(world: World) -> Values:
    return {"image_id": await world.fresh_image()}


async def new_photo(world: World) -> Values:
    image_id = await world.fresh_image()
    async with world.runtime.db.session() as session:
        post = await session.get_one(Image, image_id)
        return {"image_id": image_id, "photo_id": post.cover.id}


async def new_comment(world: World) -> Values:
    return {"comment_id": await world.fresh_comment()}


async def owner(world: World) -> Values:
    return {"username": world.owner_name}


async def owner_by_id(world: World) -> Values:
    return {"user_id": world.owner_id, "page": 1, "per_page": 5}


async def media(world: World) -> Values:
    return {"key": world.media_key}


def a_user(**kind: bool) -> Prepare:
    async def prepare(world: World) -> Values:
        return {"user_id": await world.fresh_user(**kind)}

    return prepare


def reported(kind: str) -> Prepare:
    async def prepare(world: World) -> Values:
        return {"kind": kind, "target_id": await world.reported(kind)}

    return prepare


@dataclass(frozen=True)
class Route:
    access: Access
    prepare: Prepare = NO_VALUES
    body: dict[str, Any] | None = None  # JSON for /api/, form fields for pages
    query: dict[str, str] | None = None
    signs_out: bool = False  # the call ends the caller's sign-in
    limits: tuple[str, ...] = ()  # the RATE_LIMITS entries the route spends
    exempt: bool = False  # deliberately no rate limit (the view's decorator says why)


A = Access
ROUTES: dict[tuple[str, str], Route] = {
    # -- pages anyone may see ------------------------------------------------------
    ("main.index", "GET"): Route(A.PUBLIC),
    ("main.api_docs", "GET"): Route(A.PUBLIC),
    ("openapi", "GET"): Route(A.PUBLIC),
    ("static", "GET"): Route(A.PUBLIC, fixed(filename="css/app.css")),
    ("images.media", "GET"): Route(A.PUBLIC, media),
    ("users.generated_avatar", "GET"): Route(A.PUBLIC, fixed(hue=0, letters="AB")),
    # A signed capability: without a good signature, 404 for everyone alike.
    ("images.private_media", "GET"): Route(A.PUBLIC, fixed(photo_id=1, name="display.jpg")),
    ("images.detail", "GET"): Route(A.PUBLIC, same_image),
    ("users.profile", "GET"): Route(A.PUBLIC, owner),
    ("social.followers", "GET"): Route(A.PUBLIC, owner),
    ("social.following", "GET"): Route(A.PUBLIC, owner),
    ("discover.tag_page", "GET"): Route(A.PUBLIC, fixed(name="sea")),
    ("discover.search_page", "GET"): Route(A.PUBLIC, query={"q": "sea"}, limits=("searches",)),
    ("compat.index_images", "GET"): Route(A.PUBLIC, fixed(page=1, per_page=5)),
    ("compat.profile_images", "GET"): Route(A.PUBLIC, owner_by_id),
    # -- signing up and in (signed-in visitors are sent on, never refused) ----------
    ("auth.register", "GET"): Route(A.PUBLIC),
    ("auth.register", "POST"): Route(A.PUBLIC, body={"username": "x"}, limits=("registrations",)),
    ("auth.login", "GET"): Route(A.PUBLIC),
    ("auth.login", "POST"): Route(
        A.PUBLIC,
        body={"login": "nobody", "password": "wrong"},
        limits=("sign-ins-by-address", "sign-ins-by-account"),
    ),
    # The code step of a two-factor sign-in (without a password first, back to /login).
    ("auth.second_factor", "GET"): Route(A.PUBLIC),
    ("auth.second_factor", "POST"): Route(
        A.PUBLIC, body={"code": "123456"}, limits=("sign-ins-by-address", "sign-ins-by-account")
    ),
    # Signing in with a passkey: a challenge, then its signed answer (JSON).
    ("auth.passkey_sign_in_options", "POST"): Route(A.PUBLIC, limits=("passkey-challenges",)),
    ("auth.passkey_sign_in", "POST"): Route(A.PUBLIC, limits=("sign-ins-by-address",)),
    ("auth.activate", "GET"): Route(A.PUBLIC, fixed(token="not-a-token")),
    # The links mailed for an e-mail change: the token is the permission.
    ("auth.confirm_email", "GET"): Route(A.PUBLIC, fixed(token="not-a-token")),
    ("auth.confirm_email", "POST"): Route(A.PUBLIC, fixed(token="not-a-token"), exempt=True),
    ("auth.undo_email_change", "GET"): Route(A.PUBLIC, fixed(token="not-a-token")),
    ("auth.undo_email_change", "POST"): Route(A.PUBLIC, fixed(token="not-a-token"), exempt=True),
    ("auth.resend_activation", "GET"): Route(A.PUBLIC),
    ("auth.resend_activation", "POST"): Route(
        A.PUBLIC,
        body={"email": "x@example.com"},
        limits=("activation-mails-by-address", "activation-mails-by-email"),
    ),
    ("auth.forgot_password", "GET"): Route(A.PUBLIC),
    ("auth.forgot_password", "POST"): Route(
        A.PUBLIC,
        body={"email": "x@example.com"},
        limits=("reset-mails-by-address", "reset-mails-by-email"),
    ),
    ("auth.reset_password", "GET"): Route(A.PUBLIC, fixed(token="not-a-token")),
    ("auth.reset_password", "POST"): Route(A.PUBLIC, fixed(token="not-a-token"), exempt=True),
    # -- one's own account: locked accounts keep these -------------------------------
    ("auth.account", "GET"): Route(A.SIGNED_IN),
    ("auth.account", "POST"): Route(A.SIGNED_IN, body={"current_password": "x"}, exempt=True),
    # A locked account keeps the name the moderators know it by.
    ("auth.change_username", "POST"): Route(
        A.ACTING, body={"username": "x"}, limits=("username-changes",)
    ),
    ("auth.change_email", "POST"): Route(
        A.SIGNED_IN, body={"email": "x@example.com"}, limits=("email-changes",)
    ),
    ("auth.revoke_session", "POST"): Route(
        A.SIGNED_IN, fixed(public_id="no-such-session"), exempt=True
    ),
    ("settings.index", "GET"): Route(A.SIGNED_IN),
    ("settings.profile", "GET"): Route(A.SIGNED_IN),
    ("settings.appearance", "GET"): Route(A.SIGNED_IN),
    ("settings.save_appearance", "POST"): Route(A.SIGNED_IN, body={"theme": "dark"}, exempt=True),
    ("settings.remove_avatar", "POST"): Route(A.SIGNED_IN, exempt=True),
    # Securing one's own account: locked accounts too. Codes count as sign-in guesses.
    ("settings.security", "GET"): Route(A.SIGNED_IN),
    ("settings.notification_settings", "GET"): Route(A.SIGNED_IN),
    # Taking one's data along is open to locked accounts too; one a day, counted
    # by the service in the database.
    ("settings.your_data", "GET"): Route(A.SIGNED_IN),
    ("settings.request_data_export", "POST"): Route(A.SIGNED_IN, exempt=True),
    ("settings.download_data_export", "GET"): Route(A.SIGNED_IN, fixed(export_id=999_999)),
    # Leaving is open to locked accounts too; the password counts as a sign-in guess.
    ("settings.delete_account_page", "GET"): Route(A.SIGNED_IN),
    ("settings.delete_account", "POST"): Route(
        A.SIGNED_IN, body={"password": "wrong"}, limits=("sign-ins-by-account",)
    ),
    ("settings.save_notification_settings", "POST"): Route(
        A.SIGNED_IN, body={"on": "like"}, exempt=True
    ),
    ("settings.two_factor_setup", "POST"): Route(A.SIGNED_IN, exempt=True),
    ("settings.two_factor_confirm", "POST"): Route(
        A.SIGNED_IN, body={"code": "1"}, limits=("sign-ins-by-account",)
    ),
    ("settings.new_recovery_codes", "POST"): Route(
        A.SIGNED_IN, body={"password": "x", "code": "1"}, limits=("sign-ins-by-account",)
    ),
    ("settings.rename_passkey", "POST"): Route(
        A.SIGNED_IN, fixed(passkey_id=999_999), body={"name": "x"}, exempt=True
    ),
    ("settings.remove_passkey", "POST"): Route(A.SIGNED_IN, fixed(passkey_id=999_999), exempt=True),
    ("settings.two_factor_disable", "POST"): Route(
        A.SIGNED_IN, body={"password": "x", "code": "1"}, limits=("sign-ins-by-account",)
    ),
    # A locked account's profile words and avatar stay as the moderators found them.
    ("settings.save_profile", "POST"): Route(A.ACTING, body={"bio": "hi"}, exempt=True),
    ("settings.upload_avatar", "POST"): Route(A.ACTING, body={}, limits=("uploads",)),
    # Signed out already, it just goes home.
    ("auth.logout", "POST"): Route(A.PUBLIC, signs_out=True, exempt=True),
    ("social.following_feed", "GET"): Route(A.SIGNED_IN),
    ("social.notifications", "GET"): Route(A.SIGNED_IN),
    ("social.mark_read", "POST"): Route(A.SIGNED_IN, fixed(notification_id=999_999), exempt=True),
    ("social.mark_all_read", "POST"): Route(A.SIGNED_IN, exempt=True),
    # Bookmarks and one's own viewing setting: locked accounts keep these too.
    ("social.saved", "GET"): Route(A.SIGNED_IN),
    ("social.save", "POST"): Route(A.SIGNED_IN, same_image, limits=("saves",)),
    ("social.unsave", "POST"): Route(A.SIGNED_IN, same_image, limits=("saves",)),
    # Mutes change only what the muter sees: locked accounts may too.
    ("social.muted", "GET"): Route(A.SIGNED_IN),
    ("social.mute", "POST"): Route(A.SIGNED_IN, owner, limits=("mutes",)),
    ("social.unmute", "POST"): Route(A.SIGNED_IN, owner, limits=("mutes",)),
    ("social.blocked", "GET"): Route(A.SIGNED_IN),
    ("social.block", "POST"): Route(A.SIGNED_IN, owner, limits=("blocks",)),
    ("social.unblock", "POST"): Route(A.SIGNED_IN, owner, limits=("blocks",)),
    # Answering requests to one's own account, and making it private: locked too.
    ("social.follow_requests", "GET"): Route(A.SIGNED_IN),
    ("social.accept_request", "POST"): Route(A.SIGNED_IN, owner, limits=("follows",)),
    ("social.decline_request", "POST"): Route(A.SIGNED_IN, owner, limits=("follows",)),
    ("auth.privacy_setting", "POST"): Route(A.SIGNED_IN, body={"private": "0"}, exempt=True),
    ("auth.sensitive_setting", "POST"): Route(
        A.SIGNED_IN, body={"show_sensitive": "1"}, exempt=True
    ),
    # The author's pages answer 404 to anyone else (tests/web/test_posts.py), which
    # this table cannot tell from "let through"; the history is the moderators' too.
    ("posts.edit", "GET"): Route(A.SIGNED_IN, new_image),
    ("posts.history", "GET"): Route(A.SIGNED_IN, new_image),
    ("posts.download_original", "GET"): Route(A.SIGNED_IN, new_photo),
    # -- acting: uploads, comments, likes, follows, reports ----------------------------
    ("images.upload", "GET"): Route(A.ACTING),
    ("images.upload_files", "POST"): Route(
        A.ACTING, body={"description": "no file"}, limits=("uploads",)
    ),
    ("images.post_comment", "POST"): Route(
        A.ACTING, same_image, body={"content": "Nice"}, limits=("comments",)
    ),
    ("social.like", "POST"): Route(A.ACTING, same_image, limits=("likes",)),
    ("social.unlike", "POST"): Route(A.ACTING, same_image, limits=("likes",)),
    ("social.follow", "POST"): Route(A.ACTING, owner, limits=("follows",)),
    ("social.unfollow", "POST"): Route(A.ACTING, owner, limits=("follows",)),
    ("reports.report_image_page", "GET"): Route(A.ACTING, same_image),
    ("reports.report_image_page", "POST"): Route(
        A.ACTING, new_image, body={"reason": "spam"}, limits=("reports",)
    ),
    ("reports.report_comment_page", "GET"): Route(A.ACTING, new_comment),
    ("reports.report_comment_page", "POST"): Route(
        A.ACTING, new_comment, body={"reason": "spam"}, limits=("reports",)
    ),
    # -- the owner's (or a moderator's) -------------------------------------------------
    ("images.delete", "POST"): Route(A.OWNER_OR_MODERATOR, new_image, exempt=True),
    ("images.delete_comment", "POST"): Route(A.OWNER_OR_MODERATOR, new_comment, exempt=True),
    ("images.disable_comments", "POST"): Route(A.OWNER_OR_MODERATOR, new_image, exempt=True),
    ("images.enable_comments", "POST"): Route(A.OWNER_OR_MODERATOR, new_image, exempt=True),
    ("posts.mark_sensitive", "POST"): Route(
        A.OWNER_OR_MODERATOR, new_image, body={"sensitive": "1"}, exempt=True
    ),
    ("posts.save_edit", "POST"): Route(
        A.AUTHOR, new_image, body={"description": "rewritten"}, exempt=True
    ),
    # -- moderation and administration -----------------------------------------------------
    ("admin.reports", "GET"): Route(A.MODERATOR),
    ("admin.log", "GET"): Route(A.MODERATOR),
    ("admin.dismiss_reports", "POST"): Route(A.MODERATOR, reported("image"), exempt=True),
    ("admin.delete_reported", "POST"): Route(A.MODERATOR, reported("comment"), exempt=True),
    ("admin.lock_reported_author", "POST"): Route(
        A.MODERATOR, reported("image"), body={"reason": "spam"}, exempt=True
    ),
    ("admin.lock_user", "POST"): Route(A.MODERATOR, a_user(), body={"reason": "spam"}, exempt=True),
    ("admin.unlock_user", "POST"): Route(A.MODERATOR, a_user(locked=True), exempt=True),
    ("admin.dashboard", "GET"): Route(A.ADMINISTRATOR),
    ("admin.delete_user", "POST"): Route(
        A.ADMINISTRATOR, a_user(), body={"reason": "spam"}, exempt=True
    ),
    ("admin.change_role", "POST"): Route(
        A.ADMINISTRATOR, a_user(), body={"role": "moderator"}, exempt=True
    ),
    ("admin.resend_activation", "POST"): Route(A.ADMINISTRATOR, a_user(active=False), exempt=True),
    # -- the JSON API: reading ------------------------------------------------------------
    ("api.images.feed", "GET"): Route(A.PUBLIC),
    ("api.ranking.hot_feed", "GET"): Route(A.PUBLIC),
    ("api.images.image_detail", "GET"): Route(A.PUBLIC, same_image),
    ("api.images.image_counts", "GET"): Route(A.PUBLIC, query={"ids": "1,2"}),
    ("api.images.list_comments", "GET"): Route(A.PUBLIC, same_image),
    ("api.images.user_profile", "GET"): Route(A.PUBLIC, owner),
    ("api.images.user_images", "GET"): Route(A.PUBLIC, owner),
    ("api.social.user_followers", "GET"): Route(A.PUBLIC, owner),
    ("api.social.user_following", "GET"): Route(A.PUBLIC, owner),
    ("api.discover.tag_images", "GET"): Route(A.PUBLIC, fixed(name="sea")),
    ("api.discover.search_everything", "GET"): Route(
        A.PUBLIC, query={"q": "sea"}, limits=("searches",)
    ),
    ("api.social.following_feed", "GET"): Route(A.SIGNED_IN),
    ("api.account.me", "GET"): Route(A.SIGNED_IN),
    ("api.account.list_sessions", "GET"): Route(A.SIGNED_IN),
    ("api.account.revoke_session", "DELETE"): Route(
        A.SIGNED_IN, fixed(session_id="no-such-session"), exempt=True
    ),
    ("api.social.list_notifications", "GET"): Route(A.SIGNED_IN),
    ("api.social.unread_count", "GET"): Route(A.SIGNED_IN),
    ("api.social.mark_notification_read", "POST"): Route(
        A.SIGNED_IN, fixed(notification_id=999_999), exempt=True
    ),
    ("api.social.mark_all_notifications_read", "POST"): Route(A.SIGNED_IN, exempt=True),
    ("api.social.saved_feed", "GET"): Route(A.SIGNED_IN),
    ("api.social.save_image", "PUT"): Route(A.SIGNED_IN, same_image, limits=("saves",)),
    ("api.social.unsave_image", "DELETE"): Route(A.SIGNED_IN, same_image, limits=("saves",)),
    ("api.social.muted_users", "GET"): Route(A.SIGNED_IN),
    ("api.social.mute_user", "PUT"): Route(A.SIGNED_IN, owner, limits=("mutes",)),
    ("api.social.unmute_user", "DELETE"): Route(A.SIGNED_IN, owner, limits=("mutes",)),
    ("api.social.blocked_users", "GET"): Route(A.SIGNED_IN),
    ("api.social.follow_requests", "GET"): Route(A.SIGNED_IN),
    ("api.social.accept_follow_request", "PUT"): Route(A.SIGNED_IN, owner, limits=("follows",)),
    ("api.social.decline_follow_request", "DELETE"): Route(A.SIGNED_IN, owner, limits=("follows",)),
    ("api.account.set_privacy", "PUT"): Route(A.SIGNED_IN, body={"is_private": False}, exempt=True),
    ("api.account.list_passkeys", "GET"): Route(A.SIGNED_IN),
    ("api.account.get_notice_settings", "GET"): Route(A.SIGNED_IN),
    ("api.account.list_exports", "GET"): Route(A.SIGNED_IN),
    ("api.account.request_export", "POST"): Route(A.SIGNED_IN, exempt=True),
    ("api.account.download_export", "GET"): Route(A.SIGNED_IN, fixed(export_id=999_999)),
    ("api.account.set_notice_settings", "PUT"): Route(
        A.SIGNED_IN, body={"like": True}, exempt=True
    ),
    ("api.account.passkey_registration_options", "POST"): Route(A.SIGNED_IN, exempt=True),
    ("api.account.add_passkey", "POST"): Route(
        A.SIGNED_IN, body={"name": "x", "credential": {}}, exempt=True
    ),
    ("api.account.rename_passkey", "PATCH"): Route(
        A.SIGNED_IN, fixed(passkey_id=999_999), body={"name": "x"}, exempt=True
    ),
    ("api.account.remove_passkey", "DELETE"): Route(
        A.SIGNED_IN, fixed(passkey_id=999_999), exempt=True
    ),
    ("api.account.set_appearance", "PUT"): Route(A.SIGNED_IN, body={"theme": "auto"}, exempt=True),
    ("api.account.remove_avatar", "DELETE"): Route(A.SIGNED_IN, exempt=True),
    ("api.account.update_profile", "PATCH"): Route(A.ACTING, body={"bio": "hi"}, exempt=True),
    ("api.account.set_avatar", "PUT"): Route(A.ACTING, body={}, limits=("uploads",)),
    ("api.social.block_user", "PUT"): Route(A.SIGNED_IN, owner, limits=("blocks",)),
    ("api.social.unblock_user", "DELETE"): Route(A.SIGNED_IN, owner, limits=("blocks",)),
    ("api.images.image_versions", "GET"): Route(A.SIGNED_IN, new_image),
    ("api.posts.discard_photo", "DELETE"): Route(A.SIGNED_IN, fixed(photo_id=999_999), exempt=True),
    # -- the JSON API: acting --------------------------------------------------------------
    ("api.images.upload_image", "POST"): Route(A.ACTING, body={}, limits=("uploads",)),
    ("api.posts.upload_photo", "POST"): Route(A.ACTING, body={}, limits=("uploads",)),
    ("api.posts.create_post", "POST"): Route(
        A.ACTING, body={"photos": [{"id": 999_999}]}, exempt=True
    ),
    ("api.images.post_comment", "POST"): Route(
        A.ACTING, same_image, body={"content": "Nice"}, limits=("comments",)
    ),
    ("api.social.like_image", "PUT"): Route(A.ACTING, same_image, limits=("likes",)),
    ("api.social.unlike_image", "DELETE"): Route(A.ACTING, same_image, limits=("likes",)),
    ("api.social.follow_user", "PUT"): Route(A.ACTING, owner, limits=("follows",)),
    ("api.social.unfollow_user", "DELETE"): Route(A.ACTING, owner, limits=("follows",)),
    ("api.reports.report_image", "POST"): Route(
        A.ACTING, new_image, body={"reason": "spam"}, limits=("reports",)
    ),
    ("api.reports.report_comment", "POST"): Route(
        A.ACTING, new_comment, body={"reason": "spam"}, limits=("reports",)
    ),
    ("api.images.delete_image", "DELETE"): Route(A.OWNER_OR_MODERATOR, new_image, exempt=True),
    ("api.images.update_image", "PATCH"): Route(
        A.OWNER_OR_MODERATOR, new_image, body={"comments_enabled": False}, exempt=True
    ),
    ("api.images.delete_comment", "DELETE"): Route(A.OWNER_OR_MODERATOR, new_comment, exempt=True),
}


# WebSocket endpoints: anyone may connect; who they are (and what they may
# follow) is decided inside, from the same cookie (tests/web/test_live.py).
WEBSOCKETS = {"live.socket"}


def served_routes(url_map: Map) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method)
        for rule in url_map.iter_rules()
        if not rule.websocket
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_websocket_is_known(app: Quart) -> None:
    served = {rule.endpoint for rule in app.url_map.iter_rules() if rule.websocket}
    assert served == WEBSOCKETS


def test_every_route_is_in_the_table(app: Quart) -> None:
    served = served_routes(app.url_map)
    missing = sorted(served - ROUTES.keys())
    stale = sorted(ROUTES.keys() - served)
    assert not missing, f"routes with no entry in ROUTES (say who may call them): {missing}"
    assert not stale, f"ROUTES entries for routes that no longer exist: {stale}"


def test_every_unsafe_route_is_rate_limited_or_exempt(app: Quart) -> None:
    """The ``limits``/``exempt`` column: filled for unsafe routes, true to the decorators."""
    wrong: list[str] = []
    for endpoint, method in sorted(served_routes(app.url_map)):
        view = app.view_functions[endpoint]
        if method in UNSAFE_METHODS and declared_limits(view) is None and not exemption_of(view):
            wrong.append(
                f"{method} {endpoint} has no rate limit: put @rate_limited(<a RATE_LIMITS "
                "name>) or @rate_limit_exempt(<why>) on its view"
            )
    column: dict[str, set[str]] = {}
    exempt: set[str] = set()
    for (endpoint, method), route in sorted(ROUTES.items()):
        if method in UNSAFE_METHODS and bool(route.limits) == route.exempt:
            wrong.append(f"ROUTES: {method} {endpoint} needs either limits or exempt=True")
        unknown = sorted(set(route.limits) - RATE_LIMITS.keys())
        if unknown:
            wrong.append(f"ROUTES: {method} {endpoint} names limits not in RATE_LIMITS: {unknown}")
        column.setdefault(endpoint, set()).update(route.limits)
        if route.exempt:
            exempt.add(endpoint)
    for endpoint, names in sorted(column.items()):
        view = app.view_functions.get(endpoint)
        if view is None:
            continue  # a stale entry: the test above says so
        declared = declared_limits(view)
        on_view = set(declared.names) if declared else set()
        if on_view != names:
            wrong.append(
                f"{endpoint}: the view declares {sorted(on_view)}, ROUTES says {sorted(names)}"
            )
        if bool(exemption_of(view)) != (endpoint in exempt):
            wrong.append(
                f"{endpoint}: exempt on the view: {exemption_of(view)!r}, "
                f"in ROUTES: {endpoint in exempt}"
            )
    assert not wrong, "\n".join(wrong)


@dataclass
class Visitor:
    who: Who
    client: Client
    token: str


async def make_account(runtime: Runtime, name: str, *, role: Role, locked: bool = False) -> int:
    user_id = await make_active_user(runtime, name, f"{name}@example.com", ROLES_PASSWORD)
    async with runtime.db.session() as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.permissions = int(role)
        if locked:
            user.locked_at = utcnow()
            user.lock_reason = "spam"
        await session.commit()
    return user_id


async def visitor(app: Quart, who: Who, name: str | None) -> Visitor:
    client = app.test_client()
    if name is not None:
        response = await sign_in(client, name, ROLES_PASSWORD)
        assert response.status_code == 302, f"{name} could not sign in"
    return Visitor(who, client, await csrf_token(client))


ACCOUNTS = {
    Who.USER: ("uma", Role.USER, False),
    Who.LOCKED: ("lou", Role.USER, True),
    Who.MODERATOR: ("moe", Role.MODERATOR, False),
    Who.ADMINISTRATOR: ("ada", Role.ADMINISTRATOR, False),
}


async def build_world(app: Quart, runtime: Runtime) -> tuple[World, dict[Who, Visitor]]:
    owner_id = await make_account(runtime, "olga", role=Role.USER)
    for name, role, locked in ACCOUNTS.values():
        await make_account(runtime, name, role=role, locked=locked)
    media_key = f"{new_stem()}_thumb.jpg"
    await runtime.storage.put(media_key, jpeg_bytes(8, 8))
    world = World(runtime, owner_id, "olga", image_id=0, media_key=media_key)
    world.image_id = await world.fresh_image()
    visitors = {Who.ANONYMOUS: await visitor(app, Who.ANONYMOUS, None)}
    for who, (name, _, _) in ACCOUNTS.items():
        visitors[who] = await visitor(app, who, name)
    return world, visitors


async def call(
    app: Quart, visitor: Visitor, endpoint: str, method: str, route: Route, world: World
) -> tuple[Any, str, Client]:
    """Call the route as ``visitor``; the response, the path called and the client used."""
    values = await route.prepare(world)
    path = app.url_map.bind("localhost").build(endpoint, values, method=method)
    client = visitor.client
    if route.signs_out:
        # A session of its own, so the visitor's (and its CSRF token) stays.
        client = (await visitor_again(app, visitor)).client
    token = await csrf_token(client) if client is not visitor.client else visitor.token
    kwargs: dict[str, Any] = {"method": method, "query_string": route.query}
    if method != "GET":
        if path.startswith("/api/"):
            kwargs["headers"] = {"X-CSRF-Token": token}
            if route.body is not None:
                kwargs["json"] = route.body
        else:
            kwargs["form"] = {**(route.body or {}), "csrf_token": token}
    return await client.open(path, **kwargs), path, client


async def visitor_again(app: Quart, known: Visitor) -> Visitor:
    name = ACCOUNTS[known.who][0] if known.who in ACCOUNTS else None
    return await visitor(app, known.who, name)


async def flashed(client: Client) -> list[str]:
    async with client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]


async def outcome_of(response: Any, path: str, client: Client) -> Outcome:
    status = response.status_code
    location = response.headers.get("Location", "")
    is_json = path.startswith("/api/") or path == "/openapi.json"
    if status == 401:
        return Outcome.SIGN_IN
    # (A redirect to plain /login is a page's normal answer, e.g. after a reset mail.)
    if status in (302, 303) and location.startswith("/login?next="):
        return Outcome.SIGN_IN
    if status == 403:
        if is_json and (await response.get_json())["error"]["message"] == LOCKED_MESSAGE:
            return Outcome.LOCKED
        return Outcome.FORBIDDEN
    if status == 303 and LOCKED_MESSAGE in await flashed(client):
        return Outcome.LOCKED
    return Outcome.ALLOWED


async def test_who_may_call_each_route(app: Quart, runtime: Runtime) -> None:
    world, visitors = await build_world(app, runtime)
    wrong: list[str] = []
    for (endpoint, method), route in sorted(ROUTES.items()):
        for who, expected in EXPECTED[route.access].items():
            visitor_ = visitors[who]
            # Flashes left by an earlier call must not count for this one.
            await flashed_and_cleared(visitor_.client)
            response, path, client = await call(app, visitor_, endpoint, method, route, world)
            got = await outcome_of(response, path, client)
            if got is not expected:
                wrong.append(
                    f"{method} {endpoint} as {who.value}: expected {expected.value}, "
                    f"got {got.value} ({response.status_code})"
                )
    assert not wrong, "\n".join(wrong)


async def flashed_and_cleared(client: Client) -> None:
    async with client.session_transaction() as session:
        session.pop("_flashes", None)

"""The helpers the test modules share, so that tests read like usage.

Names say how a helper gets there:

* ``*_row`` / ``*_rows``: straight into the tables, no services (fast, and
  for accounts that never sign in);
* ``add_*``, ``remove_*``, ``delete_*``, ``file_*``, ``lock_account``…: through
  the services, as the site would (notices, counters, versions move with them);
* ``*_via_api``: a request to the JSON API, as a script would send it;
* ``post_form``, ``page_html``, ``follow_redirect``: the pages, as a browser
  would use them;
* ``fetch_*``, ``stored_*``, ``count_rows``: reading what is stored, to check it.

Image bytes, image rows and uploads are in ``tests/images.py``; the mail the
app sends in ``tests/mailbox.py``; holding the pools in ``tests/pools.py``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import event, func, select, update

from gallery.infra.db import Database
from gallery.infra.runtime import Runtime
from gallery.models import (
    Comment,
    Image,
    ModerationEntry,
    OutboxMessage,
    Report,
    Role,
    Tag,
    User,
    image_tags,
)
from gallery.models.base import utcnow
from gallery.services import accounts, comments, images, moderation, notifications, reports, social
from gallery.services.mail import Mailer
from gallery.services.reports import ReportTarget
from gallery.settings import Settings
from tests.images import add_comment_rows, add_image_rows
from tests.mailbox import Mailbox, link_in

META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')

# -- the JSON API's shapes ---------------------------------------------------------

# The seed routes' Image: exactly these keys, before and after posts of several photos.
SEED_IMAGE_KEYS = {
    "id",
    "url",
    "thumb_url",
    "width",
    "height",
    "description",
    "created_at",
    "author",
    "comment_count",
    "like_count",
    "liked",
    "comments",
    # Beyond SPEC §5's Image: whether the owner lets people comment (issue 5).
    "comments_enabled",
}
# A post everywhere else: the seed shape (its first photo's files) and every photo.
IMAGE_KEYS = SEED_IMAGE_KEYS | {
    "photos",
    "edited_at",
    "sensitive",
    "content_warning",
    "saved",
    "visibility",
    "source_url",
}
PHOTO_KEYS = {
    "id",
    "url",
    "thumb_url",
    "width",
    "height",
    "alt_text",
    "srcset",
    "srcset_type",
    "fallback_srcset",
    "blurhash",
}
COMMENT_KEYS = {"id", "content", "created_at", "author"}
AUTHOR_KEYS = {"id", "username", "display_name", "avatar_url"}

# Inputs people (and scripts) type into search; none may turn into an SQL error.
HOSTILE_QUERIES = [
    "%",
    "_",
    "'",
    '"',
    "\\",
    "*",
    "+-><()~",
    "' OR 1=1 --",
    "#",
    "🌅",
    "東京",
    "a\x00b",
    "\x00",
    "%_\\",
    "sun%",
    'sun" OR "1"="1',
    "sun*",
    "+sun -moon",
    "@",
    "NEAR(sun moon)",
    "sun AND moon OR NOT x",
    "description:sun",
    "' UNION SELECT password_hash FROM users --",
]


# -- pages, as a browser uses them ---------------------------------------------------


async def csrf_token(client: Client, path: str = "/") -> str:
    """The session's CSRF token, read from a page as a browser's script would."""
    response = await client.get(path)
    found = META_CSRF.search(await response.get_data(as_text=True))
    assert found, f"no csrf meta tag on {path}"
    return found.group(1)


async def post_form(
    client: Client, path: str, data: dict[str, Any] | None = None, *, with_csrf: bool = True
) -> Any:
    """POST a form as the page would, with the session's CSRF token (unless told not to)."""
    form = dict(data or {})
    if with_csrf:
        form.setdefault("csrf_token", await csrf_token(client))
    return await client.post(path, form=form)


async def page_html(client: Client, path: str = "/", status: int = 200) -> str:
    """The page's HTML, after checking it answered ``status``."""
    response = await client.get(path)
    assert response.status_code == status, path
    return await response.get_data(as_text=True)


async def page_text(client: Client, path: str, status: int = 200) -> str:
    """The page's HTML with its entities unescaped, to look for text as it reads."""
    return html.unescape(await page_html(client, path, status))


async def follow_redirect(client: Client, response: Any, status: int = 303) -> str:
    """The page a form post redirected to (with its flash)."""
    assert response.status_code == status, await response.get_data(as_text=True)
    return await page_html(client, response.headers["Location"])


async def register(
    client: Client,
    username: str = "alice",
    email: str = "alice@example.com",
    password: str = "correct horse battery",
) -> Any:
    """The registration form, filled in and posted."""
    return await post_form(
        client,
        "/register",
        {"username": username, "email": email, "password": password, "password2": password},
    )


async def sign_in(
    client: Client,
    login: str = "alice",
    password: str = "correct horse battery",
    *,
    remember: bool = False,
    next_url: str | None = None,
) -> Any:
    """The sign-in form, filled in and posted."""
    data = {"login": login, "password": password}
    if remember:
        data["remember"] = "y"
    path = "/login" + (f"?next={next_url}" if next_url else "")
    return await post_form(client, path, data)


async def activation_path(mailbox: Mailbox, runtime: Runtime, email: str) -> str:
    mail = await mailbox.last_to(email)
    return link_in(mail, runtime.settings.public_url, "/activate/")


async def signed_in(app: Quart, runtime: Runtime, username: str = "alice") -> tuple[Client, str]:
    """A client signed in as a fresh active user, and its CSRF token."""
    await make_active_user(runtime, username, f"{username}@example.com")
    client = app.test_client()
    response = await sign_in(client, username)
    assert response.status_code == 302
    return client, await csrf_token(client)


async def moderator_client(app: Quart, runtime: Runtime, username: str = "mod") -> Client:
    """A client signed in as a fresh moderator."""
    client, _ = await signed_in(app, runtime, username)
    await set_permissions(runtime, username, Role.MODERATOR)
    return client


async def administrator_client(app: Quart, runtime: Runtime, username: str = "root") -> Client:
    """A client signed in as a fresh administrator."""
    client, _ = await signed_in(app, runtime, username)
    await set_permissions(runtime, username, Role.ADMINISTRATOR)
    return client


# -- the JSON API, as a script uses it ---------------------------------------------


def csrf_header(token: str | None) -> dict[str, str]:
    """The header unsafe API requests carry their CSRF token in (none without a token)."""
    return {"X-CSRF-Token": token} if token else {}


async def comment_via_api(client: Client, token: str, image_id: int, content: str) -> Any:
    return await client.post(
        f"/api/v1/images/{image_id}/comments",
        json={"content": content},
        headers=csrf_header(token),
    )


async def patch_image_via_api(client: Client, token: str | None, image_id: int, body: Any) -> Any:
    return await client.patch(f"/api/v1/images/{image_id}", json=body, headers=csrf_header(token))


async def report_via_api(client: Client, token: str | None, path: str, reason: Any) -> Any:
    return await client.post(path, json={"reason": reason}, headers=csrf_header(token))


async def json_error_of(response: Any) -> dict[str, str]:
    """The ``error`` of a JSON error answer, checking it is all the body holds."""
    body = await response.get_json()
    assert set(body) == {"error"}
    return body["error"]


# -- rows straight into the tables -----------------------------------------------


async def add_user_row(
    runtime: Runtime,
    name: str,
    *,
    email: str | None = None,
    role: int = Role.USER,
    active: bool = True,
    locked: bool = False,
    lock_reason: str = "locked before",
) -> int:
    """An account straight into the table (no password hash: these never sign in)."""
    address = email or f"{name}@example.com"
    async with runtime.db.session() as session:
        row = User(
            username=name,
            username_key=User.key_for(name),
            email=address,
            email_key=User.key_for(address),
            password_hash="-",
            is_active=active,
            permissions=int(role),
            locked_at=utcnow() if locked else None,
            lock_reason=lock_reason if locked else None,
        )
        session.add(row)
        await session.commit()
        return row.id


async def add_user_rows(runtime: Runtime, *names: str, role: int = Role.USER) -> list[int]:
    """Active accounts straight into the table (see add_user_row), ids in the order named."""
    return [await add_user_row(runtime, name, role=role) for name in names]


async def add_numbered_user_rows(runtime: Runtime, count: int, prefix: str = "fan") -> list[int]:
    """``count`` active accounts named ``fan0``, ``fan1``… that never sign in."""
    return await add_user_rows(runtime, *(f"{prefix}{index}" for index in range(count)))


async def add_image_with_comments(
    runtime: Runtime, author: str = "alice", comments: int = 1
) -> tuple[int, list[int]]:
    """An image row by ``author`` with ``comments`` comments of theirs on it
    (``comment 0``, ``comment 1``…): the image's id and the comments' ids, oldest first."""
    author_id = await user_id_of(runtime, author)
    (image_id,) = await add_image_rows(runtime, author_id, 1)
    await add_comment_rows(runtime, image_id, author_id, comments)
    async with runtime.db.session() as session:
        comment_ids = await session.scalars(
            select(Comment.id).where(Comment.image_id == image_id).order_by(Comment.id)
        )
        return image_id, list(comment_ids)


async def set_permissions(runtime: Runtime, username: str, permissions: int) -> None:
    """Give the account these permission bits (a role, or any mix), on the row."""
    async with runtime.db.session() as session:
        await session.execute(
            update(User).where(User.username == username).values(permissions=int(permissions))
        )
        await session.commit()


async def lock_account_row(runtime: Runtime, username: str, reason: str = "spam") -> None:
    """Lock the account on its row, as a moderator's lock leaves it (nothing logged)."""
    async with runtime.db.session() as session:
        await session.execute(
            update(User)
            .where(User.username == username)
            .values(locked_at=utcnow(), lock_reason=reason)
        )
        await session.commit()


# -- through the services, as the site does it --------------------------------------


async def make_active_user(
    runtime: Runtime,
    username: str = "alice",
    email: str = "alice@example.com",
    password: str = "correct horse battery",
) -> int:
    """An activated account made through the service, as registration plus activation would."""
    async with runtime.db.session() as session:
        user = await accounts.register(
            session,
            runtime.redis,
            Mailer(runtime.settings),  # type: ignore[arg-type]
            username=username,
            email=email,
            password=password,
        )
        user.is_active = True
        await session.commit()
        return user.id


async def add_like(runtime: Runtime, user_id: int, image_id: int) -> social.LikeState:
    async with runtime.db.session() as session:
        return await social.like_image(
            session, runtime.redis, user=await session.get_one(User, user_id), image_id=image_id
        )


async def remove_like(runtime: Runtime, user_id: int, image_id: int) -> social.LikeState:
    async with runtime.db.session() as session:
        return await social.unlike_image(
            session, runtime.redis, user=await session.get_one(User, user_id), image_id=image_id
        )


async def add_follow(runtime: Runtime, follower_id: int, username: str) -> social.FollowState:
    async with runtime.db.session() as session:
        return await social.follow_user(
            session,
            runtime.redis,
            follower=await session.get_one(User, follower_id),
            username=username,
        )


async def remove_follow(runtime: Runtime, follower_id: int, username: str) -> social.FollowState:
    async with runtime.db.session() as session:
        return await social.unfollow_user(
            session,
            runtime.redis,
            follower=await session.get_one(User, follower_id),
            username=username,
        )


async def add_comment(
    runtime: Runtime, author_id: int, image_id: int, content: str = "nice"
) -> int:
    """A comment posted through the service; returns its id."""
    async with runtime.db.session() as session:
        comment = await comments.add_comment(
            session,
            runtime.redis,
            image_id=image_id,
            author=await session.get_one(User, author_id),
            content=content,
        )
        return comment.id


async def delete_comment(runtime: Runtime, actor_id: int, comment_id: int, reason: str = "") -> int:
    """Delete a comment through the service; returns the id of the image it was on."""
    async with runtime.db.session() as session:
        return await comments.delete_comment(
            session,
            runtime.redis,
            comment_id=comment_id,
            actor=await session.get_one(User, actor_id),
            reason=reason,
        )


async def list_comments_on(runtime: Runtime, image_id: int) -> list[Comment]:
    """Every comment on the image, oldest first."""
    async with runtime.db.session() as session:
        page = await comments.list_comments(session, image_id, viewer=None, limit=100, cursor=None)
    return page.comments


async def delete_image(runtime: Runtime, actor_id: int, image_id: int, reason: str = "") -> None:
    async with runtime.db.session() as session:
        await images.delete_image(
            session,
            runtime.storage,
            runtime.redis,
            image_id=image_id,
            actor=await session.get_one(User, actor_id),
            reason=reason,
        )


async def switch_comments(runtime: Runtime, actor_id: int, image_id: int, enabled: bool) -> Image:
    """Turn comments on an image on or off through the service."""
    async with runtime.db.session() as session:
        return await images.set_comments_enabled(
            session,
            runtime.redis,
            image_id=image_id,
            actor=await session.get_one(User, actor_id),
            enabled=enabled,
        )


async def file_report(
    runtime: Runtime, reporter_id: int, kind: ReportTarget, target_id: int, reason: Any = "spam"
) -> Report:
    """A report on an image or a comment, filed through the service."""
    async with runtime.db.session() as session:
        reporter = await session.get_one(User, reporter_id)
        if kind is ReportTarget.IMAGE:
            return await reports.report_image(
                session, reporter=reporter, image_id=target_id, reason=reason
            )
        return await reports.report_comment(
            session, reporter=reporter, comment_id=target_id, reason=reason
        )


async def lock_account(
    runtime: Runtime, actor_id: int, user_id: int, reason: str | None = "spam"
) -> User:
    """A moderator's (or an administrator's) lock, through the service: logged."""
    async with runtime.db.session() as session:
        actor = await session.get_one(User, actor_id)
        return await moderation.lock_user(session, actor=actor, user_id=user_id, reason=reason)


async def unread_count_of(runtime: Runtime, user_id: int) -> int:
    """The unread count the bell shows (the service's, cached in Redis)."""
    assert runtime.redis is not None
    async with runtime.db.session() as session:
        return await notifications.unread_count(session, runtime.redis, user_id)


# -- reading what is stored -----------------------------------------------------------


async def fetch_user(runtime: Runtime, user_id: int) -> User:
    async with runtime.db.session() as session:
        return await session.get_one(User, user_id)


async def fetch_user_by_name(runtime: Runtime, username: str) -> User:
    async with runtime.db.session() as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None, username
        return user


async def user_id_of(runtime: Runtime, username: str) -> int:
    async with runtime.db.session() as session:
        found = await session.scalar(select(User.id).where(User.username == username))
        assert found is not None, username
        return found


async def count_rows(runtime: Runtime, model: type, *conditions: Any) -> int:
    """How many rows of ``model`` the table holds (that meet all ``conditions``)."""
    async with runtime.db.session() as session:
        query = select(func.count()).select_from(model)
        if conditions:
            query = query.where(*conditions)
        return int(await session.scalar(query) or 0)


async def moderation_entries(runtime: Runtime) -> list[ModerationEntry]:
    """The whole moderation log, oldest first."""
    async with runtime.db.session() as session:
        return list(await session.scalars(select(ModerationEntry).order_by(ModerationEntry.id)))


async def fetch_reports(runtime: Runtime) -> list[Report]:
    """Every report, open or not, oldest first."""
    async with runtime.db.session() as session:
        return list((await session.scalars(select(Report).order_by(Report.id))).all())


async def stored_like_count(runtime: Runtime, image_id: int) -> int:
    """The image row's ``like_count``."""
    async with runtime.db.session() as session:
        return int(await session.scalar(select(Image.like_count).where(Image.id == image_id)) or 0)


async def stored_view_count(database: Database, image_id: int) -> int | None:
    """The image row's ``view_count`` (read through ``database``: it may outlive an app)."""
    async with database.session() as session:
        return await session.scalar(select(Image.view_count).where(Image.id == image_id))


async def tag_names_of(runtime: Runtime, image_id: int) -> list[str]:
    """The names of the image's tags, in order."""
    async with runtime.db.session() as session:
        names = await session.scalars(
            select(Tag.name)
            .join(image_tags, image_tags.c.tag_id == Tag.id)
            .where(image_tags.c.image_id == image_id)
            .order_by(Tag.name)
        )
        return list(names)


@contextmanager
def counted_statements(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL statements run while the block runs, on either of the app's pools."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    # The requests' pool and the one shared feed pages are built from.
    engines = {runtime.db.engine.sync_engine, runtime.page_builds.engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


# -- the mail outbox ----------------------------------------------------------------


async def queue_mail(runtime: Runtime, count: int = 1) -> list[int]:
    """``count`` activation mails in the outbox (to ``user0@example.com``…); their ids."""
    async with runtime.db.session() as session:
        messages = [
            Mailer(runtime.settings).compose(
                f"user{n}@example.com",
                f"Message {n}",
                "activate",
                username=f"user{n}",
                link=Mailer(runtime.settings).link(f"/activate/token{n}"),
            )
            for n in range(count)
        ]
        session.add_all(messages)
        await session.commit()
        return [m.id for m in messages]


async def outbox_rows(runtime: Runtime) -> list[OutboxMessage]:
    """The whole outbox, oldest first."""
    async with runtime.db.session() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def smtp_settings(settings: Settings, port: int, **overrides: object) -> Settings:
    """``settings`` sending mail to an SMTP server on this machine's ``port``."""
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, **overrides})

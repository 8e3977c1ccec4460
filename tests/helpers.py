"""Small helpers that make route tests read like usage."""

from __future__ import annotations

import re
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from gallery.infra.db import utcnow
from gallery.infra.runtime import Runtime
from gallery.models import ModerationEntry, Role, User
from gallery.services import accounts
from tests.mailbox import Mailbox, link_in

META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


async def csrf_token(client: Client, path: str = "/") -> str:
    """The session's CSRF token, read from a page as a browser's script would."""
    response = await client.get(path)
    found = META_CSRF.search(await response.get_data(as_text=True))
    assert found, f"no csrf meta tag on {path}"
    return found.group(1)


async def post_form(
    client: Client, path: str, data: dict[str, Any], *, with_csrf: bool = True
) -> Any:
    form = dict(data)
    if with_csrf:
        form["csrf_token"] = await csrf_token(client)
    return await client.post(path, form=form)


async def register(
    client: Client,
    username: str = "alice",
    email: str = "alice@example.com",
    password: str = "correct horse battery",
) -> Any:
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
    data = {"login": login, "password": password}
    if remember:
        data["remember"] = "y"
    path = "/login" + (f"?next={next_url}" if next_url else "")
    return await post_form(client, path, data)


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
            runtime.mailer,  # type: ignore[arg-type]
            username=username,
            email=email,
            password=password,
        )
        user.is_active = True
        await session.commit()
        return user.id


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


async def fetch_user(runtime: Runtime, user_id: int) -> User:
    async with runtime.db.session() as session:
        return await session.get_one(User, user_id)


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

"""Small helpers that make route tests read like usage."""

from __future__ import annotations

import re
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery.infra.runtime import Runtime
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

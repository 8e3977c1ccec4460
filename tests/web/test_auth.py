"""The account pages, used as a browser would (forms, cookies, redirects, mail)."""

from __future__ import annotations

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from gallery.infra.runtime import Runtime
from gallery.models import OutboxMessage, User
from tests.helpers import (
    activation_path,
    count_rows,
    csrf_token,
    make_active_user,
    post_form,
    register,
    sign_in,
)
from tests.mailbox import Mailbox, html_of, link_in, text_of


async def test_register_activate_sign_in_and_out(
    client: Client, runtime: Runtime, mailbox: Mailbox
) -> None:
    response = await register(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    page = await (await client.get("/login")).get_data(as_text=True)
    assert "We sent a link to alice@example.com" in page

    # Not active yet: the sign-in page says why and offers a new mail.
    response = await sign_in(client)
    assert response.status_code == 400
    body = await response.get_data(as_text=True)
    assert "not activated yet" in body
    assert "/activate/resend?email=alice" in body

    mail = await mailbox.last_to("alice@example.com")
    assert mail["Subject"] == "Activate your Gallery account"
    assert "Hello alice" in text_of(mail)
    path = link_in(mail, "http://gallery.test", "/activate/")
    assert path in html_of(mail)

    response = await client.get(path)
    assert response.status_code == 302
    assert "is active" in await (await client.get("/login")).get_data(as_text=True)

    response = await sign_in(client)
    assert response.status_code == 302
    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    data = await me.get_json()
    assert data["username"] == "alice"
    assert data["email"] == "alice@example.com"
    assert data["csrf_token"]

    response = await post_form(client, "/logout", {})
    assert response.status_code == 302
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_activation_link_works_once(
    client: Client, runtime: Runtime, mailbox: Mailbox
) -> None:
    await register(client)
    path = await activation_path(mailbox, runtime, "alice@example.com")
    assert (await client.get(path)).headers["Location"] == "/login"
    second = await client.get(path)
    assert second.headers["Location"] == "/activate/resend"
    assert "not valid" in await (await client.get("/activate/resend")).get_data(as_text=True)


async def test_activation_token_is_random_not_the_user_id(
    client: Client, runtime: Runtime, mailbox: Mailbox
) -> None:
    await register(client)
    token = (await activation_path(mailbox, runtime, "alice@example.com")).rsplit("/", 1)[1]
    assert len(token) >= 40
    await register(client, "bob", "bob@example.com")
    other = (await activation_path(mailbox, runtime, "bob@example.com")).rsplit("/", 1)[1]
    assert len(other) >= 40 and other != token
    keys = await runtime.redis.keys("token:activate:*")  # type: ignore[union-attr]
    assert len(keys) == 2
    # Only a hash of the token is kept: Redis alone does not hand out working links.
    assert not any(token in key or other in key for key in keys)
    for key in keys:
        assert 47 * 3600 < await runtime.redis.ttl(key) <= 48 * 3600  # type: ignore[union-attr]


async def test_unknown_activation_token_is_refused(client: Client) -> None:
    response = await client.get("/activate/not-a-token")
    assert response.headers["Location"] == "/activate/resend"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("username", "ab", "Usernames are 3–30 characters"),
        ("username", "a" * 31, "Usernames are 3–30 characters"),
        ("username", "bad name", "Usernames are 3–30 characters"),
        ("username", "<script>", "Usernames are 3–30 characters"),
        ("email", "not-an-email", "not a valid e-mail address"),
        ("email", "", "Enter your e-mail address."),
        ("password", "short", "Passwords need 8 to 256 characters."),
        ("password2", "something else", "The two passwords differ."),
    ],
)
async def test_register_rejects_bad_input_and_creates_nothing(
    client: Client, runtime: Runtime, field: str, value: str, message: str
) -> None:
    data = {
        "username": "alice",
        "email": "alice@example.com",
        "password": "correct horse battery",
        "password2": "correct horse battery",
    }
    data[field] = value
    if field == "password":
        data["password2"] = value
    response = await post_form(client, "/register", data)
    assert response.status_code == 400
    assert message in await response.get_data(as_text=True)
    assert await count_rows(runtime, User) == 0
    async with runtime.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_usernames_and_emails_are_unique_ignoring_case(
    client: Client, runtime: Runtime
) -> None:
    await register(client, "Alice", "Alice@Example.com")
    response = await register(client, "ALICE", "other@example.com")
    assert response.status_code == 400
    assert "That username is taken." in await response.get_data(as_text=True)
    response = await register(client, "bob", "ALICE@example.COM")
    assert response.status_code == 400
    assert "exists already" in await response.get_data(as_text=True)
    assert await count_rows(runtime, User) == 1


async def test_sign_in_by_email_any_case(client: Client, runtime: Runtime) -> None:
    await make_active_user(runtime)
    response = await sign_in(client, "ALICE@EXAMPLE.COM")
    assert response.status_code == 302
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: Client, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    wrong_password = await sign_in(client, "alice", "wrong password")
    unknown_user = await sign_in(client, "nobody", "wrong password")
    for response in (wrong_password, unknown_user):
        assert response.status_code == 400
        assert "Wrong username, e-mail address or password." in await response.get_data(
            as_text=True
        )
    assert (await client.get("/api/v1/me")).status_code == 401


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/account", "/account"),
        ("/u/bob?tab=likes", "/u/bob?tab=likes"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        # Encoded CR/LF never reaches a header: no page has that path anyway.
        ("/%0d%0aSet-Cookie:x", "/"),
        ("/tags/%E6%9D%B1%E4%BA%AC", "/tags/%E6%9D%B1%E4%BA%AC"),
        # POST-only actions: a GET there would only answer 405.
        ("/images/7/like", "/"),
        ("/u/bob/follow", "/"),
        ("/logout", "/"),
        ("/no/such/page", "/"),
    ],
)
async def test_next_only_follows_same_site_paths(
    client: Client, runtime: Runtime, next_url: str, expected: str
) -> None:
    await make_active_user(runtime)
    token = await csrf_token(client)
    response = await client.post(
        "/login",
        query_string={"next": next_url},
        form={"login": "alice", "password": "correct horse battery", "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


async def test_signing_in_rotates_the_session_cookie(client: Client, runtime: Runtime) -> None:
    await make_active_user(runtime)
    await csrf_token(client)
    before = client.cookie_jar.get("gallery_session") if hasattr(client.cookie_jar, "get") else None  # type: ignore[union-attr]
    cookies_before = {c.name: c.value for c in client.cookie_jar}  # type: ignore[union-attr]
    await sign_in(client)
    cookies_after = {c.name: c.value for c in client.cookie_jar}  # type: ignore[union-attr]
    assert before is None or before
    assert cookies_before["gallery_session"] != cookies_after["gallery_session"]
    assert "gallery_auth" in cookies_after


async def test_copied_cookie_stops_working_after_sign_out(app: object, runtime: Runtime) -> None:
    await make_active_user(runtime)
    browser = app.test_client()  # type: ignore[attr-defined]
    await sign_in(browser)
    stolen = {c.name: c.value for c in browser.cookie_jar}
    await post_form(browser, "/logout", {})
    thief = app.test_client()  # type: ignore[attr-defined]
    for name, value in stolen.items():
        thief.set_cookie("localhost", name, value)
    assert (await thief.get("/api/v1/me")).status_code == 401


async def test_remember_me_sets_a_lasting_cookie(client: Client, runtime: Runtime) -> None:
    await make_active_user(runtime)
    response = await sign_in(client, remember=True)
    cookie = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("gallery_auth=")
    )
    assert "Max-Age=" in cookie or "Expires=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


async def test_session_cookie_without_remember_is_a_browser_session(
    client: Client, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    response = await sign_in(client)
    cookie = next(
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("gallery_auth=")
    )
    assert "Max-Age=" not in cookie and "Expires=" not in cookie


async def test_resend_activation_sends_a_fresh_working_link(
    client: Client, runtime: Runtime, mailbox: Mailbox
) -> None:
    await register(client)
    first = await activation_path(mailbox, runtime, "alice@example.com")
    response = await post_form(client, "/activate/resend", {"email": "ALICE@example.com"})
    assert response.status_code == 302
    mails = [m for m in await mailbox.all() if m["To"] == "alice@example.com"]
    assert len(mails) == 2
    second = link_in(mails[-1], "http://gallery.test", "/activate/")
    assert second != first
    assert (await client.get(second)).headers["Location"] == "/login"


async def test_resend_for_unknown_address_says_the_same_and_sends_nothing(
    client: Client, mailbox: Mailbox
) -> None:
    response = await post_form(client, "/activate/resend", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert "If nobody@example.com belongs" in await (await client.get("/login")).get_data(
        as_text=True
    )
    assert await mailbox.all() == []


async def test_password_reset_changes_password_once_and_ends_all_sessions(
    app: object, runtime: Runtime, mailbox: Mailbox
) -> None:
    await make_active_user(runtime)
    laptop = app.test_client()  # type: ignore[attr-defined]
    phone = app.test_client()  # type: ignore[attr-defined]
    await sign_in(laptop)
    await sign_in(phone)
    assert (await phone.get("/api/v1/me")).status_code == 200

    stranger = app.test_client()  # type: ignore[attr-defined]
    await post_form(stranger, "/password/forgot", {"email": "alice@example.com"})
    mail = await mailbox.last_to("alice@example.com")
    assert mail["Subject"] == "Reset your Gallery password"
    path = link_in(mail, "http://gallery.test", "/password/reset/")
    assert (await stranger.get(path)).status_code == 200

    too_short = await post_form(stranger, path, {"password": "short", "password2": "short"})
    assert too_short.status_code == 400
    response = await post_form(
        stranger, path, {"password": "a brand new secret", "password2": "a brand new secret"}
    )
    assert response.headers["Location"] == "/login"

    assert (await laptop.get("/api/v1/me")).status_code == 401
    assert (await phone.get("/api/v1/me")).status_code == 401
    assert (await sign_in(stranger, password="correct horse battery")).status_code == 400
    assert (await sign_in(stranger, password="a brand new secret")).status_code == 302
    # The link worked once.
    assert (await stranger.get(path)).headers["Location"] == "/password/forgot"


async def test_reset_token_expires_in_an_hour(
    client: Client, runtime: Runtime, mailbox: Mailbox
) -> None:
    await make_active_user(runtime)
    await post_form(client, "/password/forgot", {"email": "alice@example.com"})
    keys = await runtime.redis.keys("token:reset-password:*")  # type: ignore[union-attr]
    assert len(keys) == 1
    assert 3500 < await runtime.redis.ttl(keys[0]) <= 3600  # type: ignore[union-attr]


async def test_forgot_password_for_unknown_address_reveals_nothing(
    client: Client, mailbox: Mailbox
) -> None:
    response = await post_form(client, "/password/forgot", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert await mailbox.all() == []


async def test_changing_password_ends_every_other_session(app: object, runtime: Runtime) -> None:
    await make_active_user(runtime)
    laptop = app.test_client()  # type: ignore[attr-defined]
    phone = app.test_client()  # type: ignore[attr-defined]
    await sign_in(laptop)
    await sign_in(phone)
    wrong = await post_form(
        laptop,
        "/account",
        {
            "current_password": "nope nope",
            "new_password": "another secret!",
            "new_password2": "another secret!",
        },
    )
    assert wrong.status_code == 400
    assert "The current password is wrong." in await wrong.get_data(as_text=True)
    response = await post_form(
        laptop,
        "/account",
        {
            "current_password": "correct horse battery",
            "new_password": "another secret!",
            "new_password2": "another secret!",
        },
    )
    assert response.status_code == 302
    assert (await laptop.get("/api/v1/me")).status_code == 200
    assert (await phone.get("/api/v1/me")).status_code == 401


async def test_account_page_needs_sign_in(client: Client) -> None:
    response = await client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account"


async def test_signed_in_user_visiting_login_goes_home(client: Client, runtime: Runtime) -> None:
    await make_active_user(runtime)
    await sign_in(client)
    assert (await client.get("/login")).headers["Location"] == "/"
    assert (await client.get("/register")).headers["Location"] == "/"


async def test_revoking_on_the_account_page(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    laptop = app.test_client()
    phone = app.test_client()
    await sign_in(laptop)
    await sign_in(phone)
    sessions = (await (await laptop.get("/api/v1/sessions")).get_json())["sessions"]
    other = next(s for s in sessions if not s["current"])["id"]
    page = await (await laptop.get("/account")).get_data(as_text=True)
    assert f"/account/sessions/{other}/revoke" in page
    token = await csrf_token(laptop)
    response = await laptop.post(f"/account/sessions/{other}/revoke", form={"csrf_token": token})
    assert response.status_code == 302
    assert (await phone.get("/api/v1/me")).status_code == 401

"""The account pages, used as a browser would (forms, cookies, redirects, mail)."""

from __future__ import annotations

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from gallery.infra.runtime import Runtime
from gallery.models import OutboxMessage, User
from gallery.web.rate_limits import RATE_LIMITS, counter_key
from tests.helpers import (
    activation_path,
    add_user_row,
    count_rows,
    csrf_token,
    make_active_user,
    outbox_rows,
    post_form,
    register,
    sign_in,
    user_id_of,
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
    # A taken address is not said (see the tests of issue 13 below), but it
    # does not make a second account either.
    response = await register(client, "bob", "ALICE@example.COM")
    assert response.status_code == 302
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
    # A flash kept for the anonymous visitor gives them a server-side session.
    await post_form(client, "/password/forgot", {"email": "nobody@example.com"})
    cookies_before = {c.name: c.value for c in client.cookie_jar}  # type: ignore[union-attr]
    await sign_in(client)
    cookies_after = {c.name: c.value for c in client.cookie_jar}  # type: ignore[union-attr]
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


# -- issue 13: what the sign-in and registration forms give away -------------------

ACCOUNT_LIMIT = RATE_LIMITS["sign-ins-by-account"].limit


async def sign_in_counters(runtime: Runtime) -> dict[str, int]:
    """Every per-account sign-in counter in Redis, by the subject it counts."""
    assert runtime.redis is not None
    prefix = counter_key("sign-ins-by-account", "")
    keys = await runtime.redis.keys(prefix + "*")
    return {key[len(prefix) :]: int(await runtime.redis.get(key)) for key in keys}


async def test_one_sign_in_counter_per_account_however_it_is_typed(
    client: Client, runtime: Runtime
) -> None:
    alice_id = await make_active_user(runtime)
    await make_active_user(runtime, "bob", "bob@example.com")
    spellings = ["alice", "ALICE", " alice@example.com ", "Alice@Example.COM", "aLiCe  "]
    for attempt in range(ACCOUNT_LIMIT):
        response = await sign_in(client, spellings[attempt % len(spellings)], "wrong password")
        assert response.status_code == 400
    assert await sign_in_counters(runtime) == {f"account:{alice_id}": ACCOUNT_LIMIT}

    # The next attempt, however spelled and even with the right password, is refused.
    for spelling in ("alice@example.com", "ALICE"):
        response = await sign_in(client, spelling, "correct horse battery")
        assert response.status_code == 429
        assert "Too many sign-in attempts for this account" in await response.get_data(as_text=True)
    assert (await client.get("/api/v1/me")).status_code == 401
    # Bob's counter is his own.
    assert (await sign_in(client, "BOB@example.com")).status_code == 302


async def test_unknown_names_are_limited_and_answered_as_known_ones(
    client: Client, runtime: Runtime
) -> None:
    await make_active_user(runtime)

    async def page_for(login: str) -> tuple[int, str]:
        response = await sign_in(client, login, "wrong password")
        # The form shows what was typed back; everything else must be identical.
        body = (await response.get_data(as_text=True)).replace(login, "LOGIN")
        return response.status_code, body

    for attempt in range(ACCOUNT_LIMIT):
        known = await page_for("alice")
        unknown = await page_for(["mallory", "MALLORY", " mallory "][attempt % 3])
        assert known[0] == unknown[0] == 400
        assert known[1] == unknown[1]
        assert "Wrong username, e-mail address or password." in known[1]
    assert await sign_in_counters(runtime) == {
        f"account:{await user_id_of(runtime, 'alice')}": ACCOUNT_LIMIT,
        "unknown:mallory": ACCOUNT_LIMIT,
    }

    known_refused = await sign_in(client, "alice", "wrong password")
    unknown_refused = await sign_in(client, "Mallory", "wrong password")
    assert known_refused.status_code == unknown_refused.status_code == 429
    assert await known_refused.get_data(as_text=True) == await unknown_refused.get_data(
        as_text=True
    )
    assert "Retry-After" in known_refused.headers and "Retry-After" in unknown_refused.headers


async def registration_answer(client: Client, username: str, email: str) -> str:
    """Register; the answer (redirect and flash) with the names typed in made generic."""
    response = await register(client, username, email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    page = await (await client.get("/login")).get_data(as_text=True)
    start = page.index("Welcome, ")
    flashed = page[start : page.index("<", start)].strip()
    return flashed.replace(email, "EMAIL").replace(username, "NAME")


async def test_registering_a_taken_email_answers_as_a_new_account_and_tells_its_owner(
    client: Client, runtime: Runtime, mailbox: Mailbox
) -> None:
    alice_id = await make_active_user(runtime)
    mails_before = len(await mailbox.all())  # alice's own activation mail

    taken = await registration_answer(client, "bob", "ALICE@example.com")
    fresh = await registration_answer(client, "carol", "carol@example.com")
    assert taken == fresh
    assert fresh.startswith("Welcome, NAME! We sent a link to EMAIL: open it to activate")

    # No second account, no activation mail for the address; a note to its owner.
    assert await count_rows(runtime, User) == 2
    assert await count_rows(runtime, User, User.username == "bob") == 0
    mails = (await mailbox.all())[mails_before:]
    assert sorted(str(m["To"]) for m in mails) == ["alice@example.com", "carol@example.com"]
    note = await mailbox.last_to("alice@example.com")
    assert note["Subject"] == "Someone tried to register with your e-mail address"
    text = text_of(note)
    assert "Hello alice" in text and "ignore this mail" in text
    assert "/activate/" not in text
    # What to do: sign in, or reset the password (the form filled in with her address).
    assert "http://gallery.test/login" in text.splitlines()
    reset = "/password/forgot?email=alice%40example.com"
    assert f"http://gallery.test{reset}" in text
    assert f"http://gallery.test{reset}" in html_of(note)
    reset_page = await (await client.get(reset)).get_data(as_text=True)
    assert 'value="alice@example.com"' in reset_page
    assert (await mailbox.last_to("carol@example.com"))["Subject"] == (
        "Activate your Gallery account"
    )

    # Another try within the hour: the same answer, no second note to fill her inbox.
    assert await registration_answer(client, "dave", "alice@example.com") == fresh
    assert len(await mailbox.all()) == mails_before + 2
    assert await count_rows(runtime, User) == 2
    # Alice's account is untouched: she signs in as before.
    assert (await sign_in(client, "alice")).status_code == 302
    assert (await (await client.get("/api/v1/me")).get_json())["id"] == alice_id


async def test_registrations_with_a_taken_email_spend_the_registration_limit(
    client: Client, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    limit = RATE_LIMITS["registrations"].limit
    for n in range(limit):
        email = "alice@example.com" if n % 2 else f"user{n}@example.com"
        assert (await register(client, f"user{n}", email)).status_code == 302
    response = await register(client, "one-more", "alice@example.com")
    assert response.status_code == 429
    assert "Too many registrations" in await response.get_data(as_text=True)


async def test_a_taken_username_is_said_but_a_taken_email_never(
    client: Client, runtime: Runtime, mailbox: Mailbox
) -> None:
    # The username and the address belong to two different accounts: whichever
    # row the database returns first, only the (public) username is reported.
    await add_user_row(runtime, "alice", email="alice@example.com")
    await add_user_row(runtime, "bob", email="bob@example.com")
    for username, email in [("bob", "alice@example.com"), ("alice", "alice@example.com")]:
        response = await register(client, username, email)
        assert response.status_code == 400
        body = await response.get_data(as_text=True)
        assert "That username is taken." in body
        assert "e-mail address exists" not in body and "exists already" not in body
    assert await count_rows(runtime, User) == 2
    assert await outbox_rows(runtime) == []

"""CSRF, security headers, cookies, rate limits, and where a visitor returns after signing in."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import TimestampSigner
from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery import create_app
from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from gallery.web.security import CSRF_COOKIE, CSRF_COOKIE_SALT
from tests.helpers import (
    META_CSRF,
    administrator_client,
    csrf_token,
    json_error_of,
    make_active_user,
    post_form,
    register,
    sign_in,
    signed_in,
)
from tests.images import add_image_rows


async def test_form_post_without_csrf_token_is_refused(client: Client, runtime: Runtime) -> None:
    response = await post_form(
        client,
        "/register",
        {
            "username": "alice",
            "email": "a@example.com",
            "password": "x" * 10,
            "password2": "x" * 10,
        },
        with_csrf=False,
    )
    assert response.status_code == 403
    assert "CSRF" in await response.get_data(as_text=True)


async def test_form_post_with_a_token_from_another_session_is_refused(app: Quart) -> None:
    mallory = app.test_client()
    token = await csrf_token(mallory)
    victim = app.test_client()
    await csrf_token(victim)
    response = await victim.post("/logout", form={"csrf_token": token})
    assert response.status_code == 403


async def test_json_unsafe_request_needs_the_csrf_header(client: Client, runtime: Runtime) -> None:
    await make_active_user(runtime)
    await sign_in(client)
    sessions = (await (await client.get("/api/v1/sessions")).get_json())["sessions"]
    session_id = sessions[0]["id"]

    refused = await client.delete(f"/api/v1/sessions/{session_id}")
    assert refused.status_code == 403
    assert (await refused.get_json())["error"]["code"] == "CSRF_FAILED"

    wrong = await client.delete(
        f"/api/v1/sessions/{session_id}", headers={"X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 403
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_security_headers_on_every_response(client: Client) -> None:
    for path in ("/", "/login", "/no-such-page", "/api/v1/me"):
        response = await client.get(path)
        headers = response.headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


async def test_pages_carry_no_inline_script(client: Client) -> None:
    for path in ("/", "/login", "/register", "/password/forgot", "/activate/resend"):
        body = await (await client.get(path)).get_data(as_text=True)
        assert "<script>" not in body
        assert " onclick=" not in body and " style=" not in body
        assert 'name="csrf_token"' in body or path == "/"


async def test_cookies_are_httponly_and_samesite(client: Client, runtime: Runtime) -> None:
    await make_active_user(runtime)
    response = await sign_in(client)
    cookies = response.headers.getlist("Set-Cookie")
    assert {c.split("=", 1)[0] for c in cookies} >= {"gallery_auth", "gallery_session"}
    for cookie in cookies:
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # GALLERY_COOKIE_SECURE is false for this plain-HTTP test


async def test_secure_cookies_when_configured(settings: Settings, clean: None) -> None:
    app = create_app(settings.model_copy(update={"cookie_secure": True}))
    async with app.test_app():
        runtime: Runtime = app.extensions["gallery"]
        await make_active_user(runtime)
        client = app.test_client()
        response = await client.get("/login", scheme="https")
        assert "Strict-Transport-Security" in response.headers
        token = META_CSRF.search(await response.get_data(as_text=True))
        assert token
        signed_in = await client.post(
            "/login",
            form={"login": "alice", "password": "correct horse battery", "csrf_token": token[1]},
            scheme="https",
        )
        assert signed_in.status_code == 302
        cookies = response.headers.getlist("Set-Cookie") + signed_in.headers.getlist("Set-Cookie")
        names = {cookie.split("=", 1)[0] for cookie in cookies}
        assert names == {"gallery_csrf", "gallery_session", "gallery_auth"}
        assert all("Secure" in cookie for cookie in cookies)


async def test_user_text_is_escaped(client: Client, runtime: Runtime) -> None:
    response = await post_form(
        client,
        "/register",
        {"username": "<b>x</b>", "email": "<script>@x", "password": "pw", "password2": "pw"},
    )
    body = await response.get_data(as_text=True)
    assert "<b>x</b>" not in body
    assert "&lt;b&gt;x&lt;/b&gt;" in body


async def test_sign_in_is_rate_limited_per_account(client: Client, runtime: Runtime) -> None:
    await make_active_user(runtime)
    for _ in range(10):
        assert (await sign_in(client, "alice", "wrong password")).status_code == 400
    response = await sign_in(client, "alice", "correct horse battery")
    assert response.status_code == 429
    assert "Too many sign-in attempts for this account" in await response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0


async def test_sign_in_is_rate_limited_per_address(client: Client, runtime: Runtime) -> None:
    for n in range(30):
        assert (await sign_in(client, f"nobody{n}", "wrong password")).status_code == 400
    response = await sign_in(client, "somebody-else", "wrong password")
    assert response.status_code == 429
    assert "from your address" in await response.get_data(as_text=True)


async def test_registration_is_rate_limited(client: Client, runtime: Runtime) -> None:
    for n in range(10):
        assert (await register(client, f"user{n}", f"user{n}@example.com")).status_code == 302
    response = await register(client, "one-more", "one-more@example.com")
    assert response.status_code == 429


@pytest.mark.parametrize("path", ["/activate/resend", "/password/forgot"])
async def test_mail_requests_are_rate_limited_per_address(client: Client, path: str) -> None:
    for _ in range(3):
        assert (await post_form(client, path, {"email": "alice@example.com"})).status_code == 302
    response = await post_form(client, path, {"email": "ALICE@example.com"})
    assert response.status_code == 429


# -- back where they were, after signing in ------------------------------------


# After signing in to do something that only posts (like, follow, report), the
# visitor lands back on the page they were on, never on the POST-only URL.


def next_of(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == "/login", location
    return parse_qs(parts.query)["next"][0]


async def test_a_signed_out_like_returns_to_the_page_it_was_on(
    client: Client, runtime: Runtime
) -> None:
    owner_id = await make_active_user(runtime, "olga", "olga@example.com")
    [image_id] = await add_image_rows(runtime, owner_id, 1)
    await make_active_user(runtime)
    token = await csrf_token(client, f"/images/{image_id}")

    response = await client.post(
        f"/images/{image_id}/like",
        form={"csrf_token": token},
        headers={"Referer": "http://localhost/u/olga?cursor=abc"},
    )
    assert response.status_code == 302
    target = next_of(response.headers["Location"])
    assert target == "/u/olga?cursor=abc"

    signed_in = await sign_in(client, next_url="/u/olga%3Fcursor%3Dabc")
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/u/olga?cursor=abc"


async def test_the_form_next_field_wins_over_the_referrer(client: Client, runtime: Runtime) -> None:
    await make_active_user(runtime, "olga", "olga@example.com")
    token = await csrf_token(client, "/u/olga")
    response = await client.post(
        "/u/olga/follow",
        form={"csrf_token": token, "next": "/u/olga/followers"},
        headers={"Referer": "http://localhost/"},
    )
    assert next_of(response.headers["Location"]) == "/u/olga/followers"


async def test_a_post_only_or_foreign_return_address_goes_home_instead(
    client: Client, runtime: Runtime
) -> None:
    owner_id = await make_active_user(runtime, "olga", "olga@example.com")
    [image_id] = await add_image_rows(runtime, owner_id, 1)
    token = await csrf_token(client)
    cases = [
        # The form names a URL that only takes POST: a GET there would be a 405.
        ({"next": f"/images/{image_id}/like"}, {}),
        # Another site referred the form.
        ({}, {"Referer": f"http://evil.example/images/{image_id}"}),
        # The action's own URL as the referrer.
        ({}, {"Referer": f"http://localhost/images/{image_id}/like"}),
        # No hint at all.
        ({}, {}),
    ]
    for fields, headers in cases:
        response = await client.post(
            f"/images/{image_id}/like", form={"csrf_token": token, **fields}, headers=headers
        )
        assert response.status_code == 302
        assert next_of(response.headers["Location"]) == "/", (fields, headers)


async def test_signed_out_like_and_follow_links_carry_the_current_page(
    client: Client, runtime: Runtime
) -> None:
    owner_id = await make_active_user(runtime, "olga", "olga@example.com")
    [image_id] = await add_image_rows(runtime, owner_id, 1)
    page = await (await client.get(f"/images/{image_id}")).get_data(as_text=True)
    assert f'href="/login?next=/images/{image_id}"' in page  # the heart
    profile = await (await client.get("/u/olga")).get_data(as_text=True)
    assert 'href="/login?next=/u/olga"' in profile  # the follow button


async def test_signing_in_with_a_post_only_next_lands_home(
    client: Client, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    response = await sign_in(client, next_url="/u/alice/follow")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# -- anonymous CSRF: a signed double-submit cookie, nothing stored -----------------------


def set_cookies(response: Any) -> dict[str, str]:
    """The cookies a response sets, by name."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getlist("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


async def anonymous_token(app: Quart, path: str = "/login") -> tuple[str, str]:
    """A cookie-less visitor's page token and the ``gallery_csrf`` cookie set with it."""
    response = await app.test_client().get(path)
    found = META_CSRF.search(await response.get_data(as_text=True))
    assert found
    return found.group(1), set_cookies(response)[CSRF_COOKIE]


async def post_login(app: Quart, token: str, cookie: str | None) -> Any:
    """The sign-in form posted by a client that sends exactly ``cookie`` (or none)."""
    headers = {"Cookie": f"{CSRF_COOKIE}={cookie}"} if cookie is not None else {}
    return await app.test_client().post(
        "/login",
        form={"login": "alice", "password": "correct horse battery", "csrf_token": token},
        headers=headers,
    )


def signed_at(app: Quart, value: str, seconds_ago: float) -> str:
    """A ``gallery_csrf`` cookie for ``value``, signed by the app ``seconds_ago``."""

    class Backdated(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - seconds_ago)

    return Backdated(app.secret_key, salt=CSRF_COOKIE_SALT).sign(value).decode()  # type: ignore[arg-type]


async def test_an_anonymous_sign_in_posts_the_double_submit_token(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    response = await app.test_client().get("/login")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("gallery_csrf"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=7200" in cookie
    token, signed = await anonymous_token(app)

    signed_in_now = await post_login(app, token, signed)
    assert signed_in_now.status_code == 302
    assert "gallery_auth" in set_cookies(signed_in_now)


async def test_the_anonymous_token_needs_its_own_valid_cookie(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    token, signed = await anonymous_token(app)
    other_token, other_signed = await anonymous_token(app)
    value, signature = signed.rsplit(".", 1)
    tampered = f"{value}.{signature[::-1]}"
    forged = f"{token}.{signed.split('.', 1)[1]}"  # another value under this signature

    for sent, cookie in [
        (token, None),  # no cookie
        (token, other_signed),  # a token from another cookie
        (other_token, signed),
        (token, tampered),
        (token, token),  # the bare value, unsigned
        (other_token, forged),
        ("", signed),
    ]:
        response = await post_login(app, sent, cookie)
        assert response.status_code == 403, (sent, cookie)
        assert "CSRF" in await response.get_data(as_text=True)


async def test_an_anonymous_cookie_expires_and_is_renewed_past_half_its_life(
    app: Quart, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    value = "a-value-the-test-chose-0123456789abcdefghij"
    expired = signed_at(app, value, seconds_ago=2 * 3600 + 60)
    assert (await post_login(app, value, expired)).status_code == 403

    # Past half its life, a page signs the same value again (tokens in other tabs hold).
    aging = signed_at(app, value, seconds_ago=90 * 60)
    page = await app.test_client().get("/login", headers={"Cookie": f"{CSRF_COOKIE}={aging}"})
    found = META_CSRF.search(await page.get_data(as_text=True))
    assert found and found.group(1) == value
    renewed = set_cookies(page)[CSRF_COOKIE]
    assert renewed != aging and renewed.startswith(value + ".")

    # A young cookie is left as it is.
    young = signed_at(app, value, seconds_ago=60)
    page = await app.test_client().get("/login", headers={"Cookie": f"{CSRF_COOKIE}={young}"})
    assert CSRF_COOKIE not in set_cookies(page)
    assert (await post_login(app, value, young)).status_code == 302


async def test_a_signed_in_visitor_needs_the_session_token(
    client: Client, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    anonymous = await csrf_token(client, "/login")
    assert (await sign_in(client)).status_code == 302
    session_token = await csrf_token(client)
    assert session_token != anonymous

    # The cookie's token, still in the jar, does not stand in for the session's.
    refused = await client.post("/logout", form={"csrf_token": anonymous})
    assert refused.status_code == 403
    assert (await client.post("/logout", form={"csrf_token": session_token})).status_code == 302


async def test_a_token_kept_in_an_older_session_keeps_working(
    client: Client, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    # A session from before anonymous tokens moved to a cookie.
    async with client.session_transaction() as session:
        session["csrf_token"] = "token-from-an-older-session"
    assert await csrf_token(client, "/login") == "token-from-an-older-session"
    assert (await sign_in(client)).status_code == 302


# -- personal responses: Cache-Control: no-store ------------------------------------------


async def test_personal_responses_are_not_stored(app: Quart, runtime: Runtime) -> None:
    admin = await administrator_client(app, runtime)
    for path in (
        "/account",
        "/api/v1/me",
        "/api/v1/sessions",
        "/notifications",
        "/admin",
        "/admin/reports",
        "/admin/log",
        "/",
        "/u/root",
        "/no-such-page",
    ):
        response = await admin.get(path)
        assert response.headers.get("Cache-Control") == "no-store", path

    # A page that carries an anonymous CSRF token, and the redirect that keeps a flash.
    assert (await app.test_client().get("/login")).headers["Cache-Control"] == "no-store"
    flashed = await post_form(app.test_client(), "/password/forgot", {"email": "x@example.com"})
    assert flashed.headers["Cache-Control"] == "no-store"


async def test_deliberate_cache_policies_are_kept(app: Quart, runtime: Runtime) -> None:
    client, _ = await signed_in(app, runtime)
    # The ETag polls revalidate every time, from the private cache only.
    for path in ("/api/v1/feed", "/api/v1/notifications/unread-count"):
        response = await client.get(path)
        assert response.headers["Cache-Control"] == "private, no-cache", path
    # Static files are the same for everybody.
    static = await client.get("/static/css/app.css")
    assert static.status_code == 200
    assert "public" in static.headers["Cache-Control"]
    # Nothing personal in a stranger's public JSON.
    stranger = await app.test_client().get("/api/v1/users/alice")
    assert stranger.status_code == 200
    assert "no-store" not in stranger.headers.get("Cache-Control", "")


# -- 405 before CSRF ------------------------------------------------------------------


async def test_an_undeclared_method_is_405_not_a_csrf_refusal(app: Quart, runtime: Runtime) -> None:
    client, _ = await signed_in(app, runtime)
    for visitor in (app.test_client(), client):
        page = await visitor.delete("/")
        assert page.status_code == 405
        assert "GET" in page.headers["Allow"]

        api = await visitor.patch("/api/v1/feed")
        assert api.status_code == 405
        assert "GET" in api.headers["Allow"]
        assert (await json_error_of(api))["code"] == "METHOD_NOT_ALLOWED"

        assert (await visitor.post("/no/such/page")).status_code == 404
    # A route that takes the method still checks the token.
    assert (await client.post("/logout")).status_code == 403

"""CSRF, security headers, cookies, rate limits, and where a visitor returns after signing in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from gallery import create_app
from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from tests.helpers import csrf_token, make_active_user, post_form, register, sign_in
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
        client = app.test_client()
        response = await client.get("/login", scheme="https")
        cookie = next(
            c for c in response.headers.getlist("Set-Cookie") if c.startswith("gallery_session=")
        )
        assert "Secure" in cookie
        assert "Strict-Transport-Security" in response.headers


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

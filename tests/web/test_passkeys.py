"""Passkeys: adding, naming and removing them, and signing in with one
(``services/passkeys.py``), answered by a software authenticator that signs
as a real one does (``tests/authenticator.py``)."""

from __future__ import annotations

from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import Passkey
from gallery.web.rate_limits import RATE_LIMITS
from tests.authenticator import SoftwareAuthenticator
from tests.helpers import (
    count_rows,
    csrf_header,
    csrf_token,
    follow_redirect,
    page_html,
    post_form,
    signed_in,
)
from tests.web.test_two_factor import password_half, turn_on

# What the test client's requests look like to the site (its default host).
ORIGIN = "http://localhost"


async def options(client: Client, token: str, path: str) -> dict[str, Any]:
    response = await client.post(path, headers=csrf_header(token))
    assert response.status_code == 200, await response.get_data(as_text=True)
    return await response.get_json()


async def add_passkey(
    client: Client, token: str, device: SoftwareAuthenticator, name: str, origin: str = ORIGIN
) -> Any:
    created = device.create(await options(client, token, "/api/v1/me/passkeys/options"), origin)
    return await client.post(
        "/api/v1/me/passkeys",
        json={"name": name, "credential": created},
        headers=csrf_header(token),
    )


async def passkey_sign_in(
    app: Quart, device: SoftwareAuthenticator, origin: str = ORIGIN, **answer: Any
) -> tuple[Client, Any]:
    """A new browser signing in with ``device``'s passkey; its client and the answer."""
    client = app.test_client()
    token = await csrf_token(client, "/login")
    asked = await options(client, token, "/login/passkey/options")
    assert asked["userVerification"] == "required" and asked["allowCredentials"] == []
    response = await client.post(
        "/login/passkey",
        json={"credential": device.get(asked, origin), **answer},
        headers={**csrf_header(token), "Accept": "application/json"},
    )
    return client, response


async def test_a_passkey_is_added_and_signs_in_without_a_password(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    phone = SoftwareAuthenticator()
    asked = await options(alice, token, "/api/v1/me/passkeys/options")
    assert asked["rp"] == {"name": "Gallery", "id": "localhost"}
    assert asked["authenticatorSelection"]["residentKey"] == "required"
    assert asked["authenticatorSelection"]["userVerification"] == "required"

    added = await add_passkey(alice, token, phone, "Alice's phone")
    assert added.status_code == 201, await added.get_data(as_text=True)
    assert (await added.get_json())["name"] == "Alice's phone"
    page = await page_html(alice, "/settings/security")
    assert "Alice&#39;s phone" in page and "not used yet" in page

    browser, answer = await passkey_sign_in(app, phone, next="/saved")
    assert answer.status_code == 200, await answer.get_data(as_text=True)
    assert await answer.get_json() == {"redirect": "/saved"}
    me = await (await browser.get("/api/v1/me")).get_json()
    assert me["username"] == "alice"
    listed = await (await alice.get("/api/v1/me/passkeys")).get_json()
    assert listed["items"][0]["last_used_at"] is not None

    # Signing in again moves the authenticator's counter on, as it must.
    _, again = await passkey_sign_in(app, phone)
    assert again.status_code == 200
    async with runtime.db.session() as session:
        stored = await session.scalar(select(Passkey.sign_count))
    assert stored == phone.credentials[-1].sign_count == 2


async def test_a_passkey_skips_the_authenticator_code(app: Quart, runtime: Runtime) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    await turn_on(alice)
    phone = SoftwareAuthenticator()
    assert (await add_passkey(alice, token, phone, "Phone")).status_code == 201
    await password_half(app)  # the password alone still asks for a code
    browser, answer = await passkey_sign_in(app, phone)
    assert answer.status_code == 200
    assert (await browser.get("/api/v1/me")).status_code == 200


async def test_answers_that_do_not_check_out_are_refused(app: Quart, runtime: Runtime) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    phone = SoftwareAuthenticator()
    # Made for another site, or without the person verified on the device: not added.
    elsewhere = await add_passkey(alice, token, phone, "Phishing", origin="https://evil.example")
    assert elsewhere.status_code == 400
    careless = SoftwareAuthenticator(verifies_user=False)
    assert (await add_passkey(alice, token, careless, "No PIN")).status_code == 400
    # An answer without a challenge asked for first.
    stale = await alice.post(
        "/api/v1/me/passkeys",
        json={"name": "x", "credential": {}},
        headers=csrf_header(token),
    )
    assert stale.status_code == 400
    assert await count_rows(runtime, Passkey) == 0

    assert (await add_passkey(alice, token, phone, "Phone")).status_code == 201
    assert (await passkey_sign_in(app, phone))[1].status_code == 200  # its counter is at 1
    # Signed for another site, or replayed with an old counter, or unknown: refused alike.
    _, phished = await passkey_sign_in(app, phone, origin="https://evil.example")
    assert phished.status_code == 403
    assert "not accepted" in (await phished.get_json())["error"]["message"]
    phone.credentials[-1].sign_count = 0  # a cloned key whose counter lags
    _, cloned = await passkey_sign_in(app, phone)
    assert cloned.status_code == 403
    stranger = SoftwareAuthenticator()
    stranger.create(
        {"rp": {"id": "localhost"}, "user": {"id": "AAAAAAAAAAE"}, "challenge": "AAAA"}, ORIGIN
    )
    browser, unknown = await passkey_sign_in(app, stranger)
    assert unknown.status_code == 403
    assert (await browser.get("/api/v1/me")).status_code == 401


async def test_passkeys_are_renamed_and_removed_by_their_owner_only(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    bob, bob_token = await signed_in(app, runtime, "bob")
    phone = SoftwareAuthenticator()
    passkey_id = (await (await add_passkey(alice, token, phone, "Phone")).get_json())["id"]

    renamed = await post_form(
        alice, f"/settings/security/passkeys/{passkey_id}/rename", {"name": "Old phone"}
    )
    assert "now called Old phone" in await follow_redirect(alice, renamed)
    blank = await post_form(alice, f"/settings/security/passkeys/{passkey_id}/rename", {"name": ""})
    assert "Name the passkey" in await follow_redirect(alice, blank)
    assert (
        await bob.delete(f"/api/v1/me/passkeys/{passkey_id}", headers=csrf_header(bob_token))
    ).status_code == 404

    removed = await post_form(alice, f"/settings/security/passkeys/{passkey_id}/remove")
    assert "no longer signs you in" in await follow_redirect(alice, removed)
    assert await count_rows(runtime, Passkey) == 0
    _, refused = await passkey_sign_in(app, phone)
    assert refused.status_code == 403


async def test_passkey_challenges_for_strangers_are_limited_per_address(app: Quart) -> None:
    """Each challenge is kept in a server-side session, which an anonymous caller
    gets for it: a script asking for thousands would fill the session store."""
    limit = RATE_LIMITS["passkey-challenges"].limit
    script = app.test_client()
    token = await csrf_token(script, "/login")
    for _ in range(limit):
        await options(script, token, "/login/passkey/options")
    refused = await script.post(
        "/login/passkey/options", headers={**csrf_header(token), "Accept": "application/json"}
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    # Its address is what is counted: a new browser there is refused too.
    other = app.test_client()
    other_token = await csrf_token(other, "/login")
    again = await other.post("/login/passkey/options", headers=csrf_header(other_token))
    assert again.status_code == 429

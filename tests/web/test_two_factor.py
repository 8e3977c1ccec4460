"""Two-factor sign-in with an authenticator app and recovery codes
(``services/two_factor.py``, ``web/settings.py``, ``web/auth.py``).

The codes are made by pyotp from the secret the page shows, as an
authenticator app would from the QR code.
"""

from __future__ import annotations

import re
import time

import pyotp
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from gallery.infra.runtime import Runtime
from gallery.models import RecoveryCode
from tests.helpers import (
    count_rows,
    fetch_user_by_name,
    follow_redirect,
    page_html,
    post_form,
    sign_in,
    signed_in,
)
from tests.mailbox import Mailbox, link_in

PASSWORD = "correct horse battery"


async def turn_on(client: Client) -> tuple[str, list[str]]:
    """Set up two-factor as a person would: read the key, answer with the app's code."""
    setup = await post_form(client, "/settings/security/two-factor/setup")
    assert setup.status_code == 200
    page = await setup.get_data(as_text=True)
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', page)
    assert secret, page
    assert 'src="data:image/svg+xml' in page  # the QR code, drawn here
    confirmed = await post_form(
        client,
        "/settings/security/two-factor/confirm",
        {"code": pyotp.TOTP(secret.group(1)).now()},
    )
    assert confirmed.status_code == 200, await confirmed.get_data(as_text=True)
    codes = re.findall(
        r"<li>([a-z2-7]{5}-[a-z2-7]{5})</li>", await confirmed.get_data(as_text=True)
    )
    assert len(codes) == 10
    return secret.group(1), codes


def code_at(secret: str, seconds_from_now: float = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + seconds_from_now)


async def password_half(app: Quart, username: str = "alice") -> Client:
    """A new browser that gave the right password and now stands at the code step."""
    client = app.test_client()
    response = await sign_in(client, username)
    assert response.status_code == 303 and response.headers["Location"] == "/login/code"
    assert (await client.get("/api/v1/me")).status_code == 401  # not signed in yet
    return client


async def test_turning_it_on_takes_a_code_of_the_app_and_gives_ten_recovery_codes(
    app: Quart, runtime: Runtime
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    assert 'data-two-factor="off"' in await page_html(alice, "/settings/security")

    # A wrong code keeps nothing, and the same key is offered again.
    setup = await post_form(alice, "/settings/security/two-factor/setup")
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', await setup.get_data(as_text=True))
    assert secret
    wrong = await post_form(alice, "/settings/security/two-factor/confirm", {"code": "000000"})
    assert wrong.status_code == 400
    assert f'data-totp-secret="{secret.group(1)}"' in await wrong.get_data(as_text=True)
    assert not (await fetch_user_by_name(runtime, "alice")).has_two_factor

    right = await post_form(
        alice, "/settings/security/two-factor/confirm", {"code": code_at(secret.group(1))}
    )
    assert "Two-factor sign-in is on." in await right.get_data(as_text=True)
    user = await fetch_user_by_name(runtime, "alice")
    assert user.has_two_factor and user.totp_secret == secret.group(1)
    # Only fingerprints of the codes are kept.
    codes = re.findall(r"<li>([a-z2-7]{5}-[a-z2-7]{5})</li>", await right.get_data(as_text=True))
    assert await count_rows(runtime, RecoveryCode, RecoveryCode.user_id == user.id) == 10
    async with runtime.db.session() as session:
        hashes = set(await session.scalars(select(RecoveryCode.code_hash)))
    assert not hashes & set(codes)
    security = await page_html(alice, "/settings/security")
    assert 'data-two-factor="on"' in security and "10 of 10 recovery codes left" in security


async def test_a_password_sign_in_then_asks_for_a_code_that_works_once(
    app: Quart, runtime: Runtime
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    secret, _ = await turn_on(alice)

    browser = await password_half(app)
    wrong = await post_form(browser, "/login/code", {"code": "123456"})
    assert wrong.status_code == 400
    assert "That code is not right" in await wrong.get_data(as_text=True)
    # The code of the next 30 seconds still works (a phone's clock runs a little ahead).
    code = code_at(secret, 30)
    accepted = await post_form(browser, "/login/code", {"code": code})
    assert accepted.status_code == 303
    assert (await browser.get("/api/v1/me")).status_code == 200

    # The same code, seen by someone looking over the shoulder, works no more.
    onlooker = await password_half(app)
    again = await post_form(onlooker, "/login/code", {"code": code})
    assert again.status_code == 400
    assert (await onlooker.get("/api/v1/me")).status_code == 401

    # Without a password first there is nothing to answer.
    stranger = app.test_client()
    sent_back = await stranger.get("/login/code")
    assert sent_back.status_code == 303 and sent_back.headers["Location"] == "/login"


async def test_each_recovery_code_signs_in_once(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    _, codes = await turn_on(alice)
    first = await password_half(app)
    # Typed in capitals and without its dash: the same code.
    typed = codes[0].upper().replace("-", " ")
    assert (await post_form(first, "/login/code", {"code": typed})).status_code == 303
    assert (await first.get("/api/v1/me")).status_code == 200
    second = await password_half(app)
    assert (await post_form(second, "/login/code", {"code": codes[0]})).status_code == 400
    assert "9 of 10 recovery codes left" in await page_html(alice, "/settings/security")


async def test_a_password_reset_by_mail_does_not_get_around_it(
    app: Quart, runtime: Runtime, mailbox: Mailbox
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    secret, _ = await turn_on(alice)
    thief = app.test_client()
    await post_form(thief, "/password/forgot", {"email": "alice@example.com"})
    path = link_in(
        await mailbox.last_to("alice@example.com"), "http://gallery.test", "/password/reset/"
    )
    reset = await post_form(
        thief, path, {"password": "stolen mailbox", "password2": "stolen mailbox"}
    )
    assert reset.headers["Location"] == "/login"
    answered = await sign_in(thief, "alice", "stolen mailbox")
    assert answered.headers["Location"] == "/login/code"
    assert (await thief.get("/api/v1/me")).status_code == 401
    assert (await fetch_user_by_name(runtime, "alice")).totp_secret == secret


async def test_guessing_codes_is_limited_like_guessing_passwords(
    app: Quart, runtime: Runtime
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    secret, _ = await turn_on(alice)
    # The account's counter holds two sign-ins' passwords and the code that
    # turned it on: 3 of 10.
    browser = await password_half(app)
    for _ in range(7):
        assert (await post_form(browser, "/login/code", {"code": "999999"})).status_code == 400
    limited = await post_form(browser, "/login/code", {"code": code_at(secret)})
    assert limited.status_code == 429


async def test_turning_it_off_takes_the_password_and_a_code(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    secret, codes = await turn_on(alice)
    path = "/settings/security/two-factor/disable"
    wrong_password = await post_form(alice, path, {"password": "nope", "code": code_at(secret)})
    assert wrong_password.status_code == 400
    assert 'data-error="off_password"' in await wrong_password.get_data(as_text=True)
    wrong_code = await post_form(alice, path, {"password": PASSWORD, "code": "000000"})
    assert wrong_code.status_code == 400
    assert 'data-error="off_code"' in await wrong_code.get_data(as_text=True)
    assert (await fetch_user_by_name(runtime, "alice")).has_two_factor

    # New recovery codes void the old ones.
    renewed = await post_form(
        alice,
        "/settings/security/two-factor/recovery-codes",
        {"password": PASSWORD, "code": codes[1]},
    )
    new_codes = re.findall(
        r"<li>([a-z2-7]{5}-[a-z2-7]{5})</li>", await renewed.get_data(as_text=True)
    )
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)

    off = await post_form(alice, path, {"password": PASSWORD, "code": new_codes[0]})
    assert "Two-factor sign-in is off" in await follow_redirect(alice, off)
    user = await fetch_user_by_name(runtime, "alice")
    assert (user.has_two_factor, user.totp_secret) == (False, None)
    assert await count_rows(runtime, RecoveryCode, RecoveryCode.user_id == user.id) == 0
    plain = app.test_client()
    assert (await sign_in(plain, "alice")).headers["Location"] == "/"

"""Changing the e-mail address: confirmed by a link to the new address, undone
from the old one for a week (``services/email_change.py``), with real mail
through the outbox to the test SMTP server."""

from __future__ import annotations

from quart import Quart

from gallery.infra.runtime import Runtime
from tests.helpers import (
    fetch_user_by_name,
    follow_redirect,
    page_html,
    post_form,
    sign_in,
    signed_in,
)
from tests.mailbox import Mailbox, link_in

PASSWORD = "correct horse battery"
SITE = "http://gallery.test"


async def test_the_new_address_counts_once_its_link_is_opened_and_the_old_one_is_told(
    app: Quart, runtime: Runtime, mailbox: Mailbox
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    asked = await post_form(
        alice, "/account/email", {"email": "Alice.New@Example.com", "password": PASSWORD}
    )
    page = await follow_redirect(alice, asked)
    assert "A link is on its way to Alice.New@example.com" in page
    assert "data-pending-email" in page

    # Until the link is opened, the old address is the account's: sign-in and resets use it.
    assert (await fetch_user_by_name(runtime, "alice")).email == "alice@example.com"
    assert (await sign_in(app.test_client(), "alice.new@example.com")).status_code == 400
    assert (await sign_in(app.test_client(), "alice@example.com")).status_code == 302

    mail = await mailbox.last_to("Alice.New@example.com")
    confirm = link_in(mail, SITE, "/email/confirm/")
    # Opening the link asks first (a mail scanner's visit changes nothing).
    shown = await page_html(app.test_client(), confirm)
    assert "Use Alice.New@example.com" in shown
    assert (await fetch_user_by_name(runtime, "alice")).email == "alice@example.com"
    confirmed = await post_form(app.test_client(), confirm)
    assert confirmed.status_code == 303
    assert (await fetch_user_by_name(runtime, "alice")).email == "Alice.New@example.com"
    assert (await app.test_client().get(confirm)).status_code == 404  # once only

    assert (await sign_in(app.test_client(), "alice.new@example.com")).status_code == 302
    assert (await sign_in(app.test_client(), "alice@example.com")).status_code == 400
    told = await mailbox.last_to("alice@example.com")
    assert told["Subject"] == "Your Gallery e-mail address was changed"
    assert link_in(told, SITE, "/email/undo/")


async def test_the_old_address_takes_the_change_back_and_signs_everyone_out(
    app: Quart, runtime: Runtime, mailbox: Mailbox
) -> None:
    thief, _ = await signed_in(app, runtime, "alice")
    await post_form(thief, "/account/email", {"email": "thief@example.com", "password": PASSWORD})
    await post_form(
        app.test_client(),
        link_in(await mailbox.last_to("thief@example.com"), SITE, "/email/confirm/"),
    )
    undo = link_in(await mailbox.last_to("alice@example.com"), SITE, "/email/undo/")
    assert "Bring back alice@example.com" in await page_html(app.test_client(), undo)

    owner = app.test_client()
    undone = await post_form(owner, undo)
    assert undone.headers["Location"] == "/password/forgot"
    assert (await fetch_user_by_name(runtime, "alice")).email == "alice@example.com"
    assert (await thief.get("/api/v1/me")).status_code == 401
    assert (await app.test_client().get(undo)).status_code == 404


async def test_bad_requests_change_nothing_and_a_taken_address_is_answered_like_a_free_one(
    app: Quart, runtime: Runtime, mailbox: Mailbox
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    await signed_in(app, runtime, "bob")
    for form, message in (
        ({"email": "new@example.com", "password": "wrong"}, "The password is wrong."),
        ({"email": "not an address", "password": PASSWORD}, "not a valid e-mail address"),
        ({"email": "ALICE@example.com", "password": PASSWORD}, "your address already"),
    ):
        page = await follow_redirect(alice, await post_form(alice, "/account/email", form))
        assert message in page
    sent_before = len(await mailbox.all())
    taken = await follow_redirect(
        alice,
        await post_form(
            alice, "/account/email", {"email": "bob@example.com", "password": PASSWORD}
        ),
    )
    assert "A link is on its way to bob@example.com" in taken
    assert len(await mailbox.all()) == sent_before  # nothing reaches Bob
    assert (await fetch_user_by_name(runtime, "alice")).email == "alice@example.com"

    # A link for an address someone else took meanwhile is refused, not half-done.
    await post_form(alice, "/account/email", {"email": "carol@example.com", "password": PASSWORD})
    link = link_in(await mailbox.last_to("carol@example.com"), SITE, "/email/confirm/")
    await signed_in(app, runtime, "carol")
    refused = await post_form(app.test_client(), link)
    assert refused.status_code == 303
    assert (await fetch_user_by_name(runtime, "alice")).email == "alice@example.com"

"""A socket lives as long as the sign-in it was opened with (close code 4401 after)."""

from __future__ import annotations

from tests.browser.conftest import post_form
from tests.live.conftest import (
    SIGN_OUT_TIMEOUT_SECONDS,
    LiveServerFactory,
    People,
    open_socket,
    sockets_on_each_worker,
)

SIGNED_OUT = 4401


async def test_signing_out_closes_the_sockets_of_that_sign_in(
    start_live_server: LiveServerFactory, people: People
) -> None:
    server = await start_live_server()
    alice = await people(server, "alice")
    sockets = await sockets_on_each_worker(server, alice)

    response = await post_form(alice.client, "/logout", {})
    assert response.status_code == 302, response.text

    for live in sockets:
        code, _ = await live.closed(SIGN_OUT_TIMEOUT_SECONDS)
        assert code == SIGNED_OUT
    # The old cookies open an anonymous socket now, not hers.
    again = await open_socket(server, alice)
    assert again.hello["viewer"] is None
    await again.close()


async def test_a_revoked_session_loses_its_socket_the_other_session_keeps_its_own(
    start_live_server: LiveServerFactory, people: People
) -> None:
    server = await start_live_server()
    laptop = await people(server, "alice")
    phone = await people(server, "alice")  # a second sign-in of the same account
    on_laptop = await open_socket(server, laptop)
    on_phone = await open_socket(server, phone)

    # From the laptop, alice ends the phone's session (the account page's list).
    listed = await laptop.client.get("/api/v1/sessions")
    assert listed.status_code == 200, listed.text
    (phone_session,) = [s["id"] for s in listed.json()["sessions"] if not s["current"]]
    revoked = await laptop.client.delete(
        f"/api/v1/sessions/{phone_session}", headers={"X-CSRF-Token": laptop.csrf}
    )
    assert revoked.status_code == 204, revoked.text

    code, _ = await on_phone.closed(SIGN_OUT_TIMEOUT_SECONDS)
    assert code == SIGNED_OUT
    # The laptop's socket was checked in the same rounds and is still served.
    await on_laptop.send_json({"type": "ping"})
    assert (await on_laptop.next_event(lambda m: m["type"] == "pong"))["type"] == "pong"
    await on_laptop.close()

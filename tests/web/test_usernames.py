"""Changing a username: the old address leads to the new one, and the old name
is kept from others for a while (``services/usernames.py``)."""

from __future__ import annotations

from datetime import timedelta

from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import update

from gallery.infra.runtime import Runtime
from gallery.models import UsernameReservation
from gallery.models.base import utcnow
from tests.helpers import (
    fetch_user_by_name,
    follow_redirect,
    page_text,
    post_form,
    register,
    sign_in,
    signed_in,
    user_id_of,
)
from tests.images import api_upload

PASSWORD = "correct horse battery"


async def rename(client: Client, username: str, password: str = PASSWORD) -> str:
    response = await post_form(
        client, "/account/username", {"username": username, "password": password}
    )
    return await follow_redirect(client, response)


async def test_a_new_name_the_old_address_leading_to_it_and_kept_from_others(
    app: Quart, runtime: Runtime
) -> None:
    alice, token = await signed_in(app, runtime, "alice")
    await api_upload(alice, token, description="Dawn")
    alice_id = await user_id_of(runtime, "alice")

    page = await rename(alice, "aurora")
    assert "You are aurora now. For 30 days /u/alice leads here" in page
    user = await fetch_user_by_name(runtime, "aurora")
    assert user.id == alice_id
    visitor = app.test_client()
    moved = await visitor.get("/u/ALICE")
    assert moved.status_code == 302 and moved.headers["Location"] == "/u/aurora"
    assert "aurora" in await page_text(visitor, "/u/aurora")
    item = (await (await visitor.get("/api/v1/feed")).get_json())["items"][0]
    assert item["author"]["username"] == "aurora"  # cached pages moved on
    assert (await sign_in(app.test_client(), "aurora")).status_code == 302

    # Nobody else may take the old name, by registering or renaming.
    stranger = app.test_client()
    taken = await register(stranger, "alice", "someone@example.com")
    assert taken.status_code == 400
    assert "taken" in await taken.get_data(as_text=True)
    bob, _ = await signed_in(app, runtime, "bob")
    assert "That username is taken." in await rename(bob, "Alice")
    assert "That username is taken." in await rename(bob, "aurora")
    assert (await fetch_user_by_name(runtime, "bob")).username == "bob"

    # Its owner may take it back; then the new name is the one kept for a while.
    assert "You are alice now" in await rename(alice, "alice")
    assert (await app.test_client().get("/u/aurora")).headers["Location"] == "/u/alice"

    # Once the reservation ends, the name is free again and leads nowhere.
    async with runtime.db.session() as session:
        await session.execute(
            update(UsernameReservation).values(reserved_until=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await app.test_client().get("/u/aurora")).status_code == 404
    assert "You are aurora now" in await rename(bob, "aurora")


async def test_bad_renames_change_nothing(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    assert "The password is wrong." in await rename(alice, "aurora", "wrong")
    assert "Usernames are 3–30 characters" in await rename(alice, "a b")
    assert "your username already" in await rename(alice, "alice")
    assert (await fetch_user_by_name(runtime, "alice")).username == "alice"
    # A change of case only is a rename too, and reserves nothing.
    assert "You are Alice now" in await rename(alice, "Alice")
    assert (await app.test_client().get("/u/alice")).status_code == 200

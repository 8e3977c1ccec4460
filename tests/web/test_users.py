"""The profile page (``web/users.py``): its photos, its counts, what moderators see."""

from __future__ import annotations

import re

from quart import Quart

from gallery.infra.runtime import Runtime
from tests.helpers import (
    lock_account_row,
    make_active_user,
    moderator_client,
    page_html,
    signed_in,
    user_id_of,
)
from tests.images import add_image_rows


async def test_profile_page_and_unknown_users(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    bob = await make_active_user(runtime, "bob", "bob@example.com")
    alice_ids = await add_image_rows(runtime, alice, 2)
    await add_image_rows(runtime, bob, 1)
    client = app.test_client()
    page = await client.get("/u/Alice")
    assert page.status_code == 200
    body = await page.get_data(as_text=True)
    assert "alice" in body
    assert sorted(int(i) for i in re.findall(r'data-image-id="(\d+)"', body)) == alice_ids
    missing = await client.get("/u/nobody")
    assert missing.status_code == 404
    assert "<!doctype html>" in (await missing.get_data(as_text=True)).lower()


async def test_profile_tiles_show_counts_only(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    await add_image_rows(runtime, await user_id_of(runtime, "alice"), 2)
    body = await page_html(alice, "/u/alice")
    assert "data-like-form" not in body and "data-like-count" not in body


async def test_only_moderators_see_that_an_account_is_locked(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime, "bob", "bob@example.com")
    await lock_account_row(runtime, "bob", "secret reason")
    alice, _ = await signed_in(app, runtime, "alice")
    mod = await moderator_client(app, runtime)
    anonymous = app.test_client()
    for viewer in (alice, anonymous):
        body = await page_html(viewer, "/u/bob")
        assert "locked" not in body.lower()
        assert "secret reason" not in body and "data-profile-moderation" not in body
        assert "data-role=" not in body
    body = await page_html(mod, "/u/bob")
    assert "This account is locked since" in body and "secret reason" in body
    assert "locked</span>" in body

"""Finding accounts in any state, as the site's own tools need to."""

from __future__ import annotations

import pytest

from gallery.infra.runtime import Runtime
from gallery.services import users
from gallery.services.errors import NotFoundError
from tests.helpers import add_user_row


async def test_find_account_by_username_finds_accounts_not_yet_activated(
    runtime: Runtime,
) -> None:
    waiting = await add_user_row(runtime, "Waiting", active=False)
    async with runtime.db.session() as session:
        found = await users.find_account_by_username(session, "WAITING")
        assert (found.id, found.username, found.is_active) == (waiting, "Waiting", False)
        # The public lookup still hides it.
        with pytest.raises(NotFoundError):
            await users.find_by_username(session, "waiting")
        with pytest.raises(NotFoundError, match="no user called 'nobody'"):
            await users.find_account_by_username(session, "nobody")


async def test_find_account_by_id_finds_any_account_until_it_is_gone(runtime: Runtime) -> None:
    locked = await add_user_row(runtime, "locked", locked=True)
    waiting = await add_user_row(runtime, "waiting", active=False)
    async with runtime.db.session() as session:
        assert (await users.find_account_by_id(session, locked)).is_locked
        assert not (await users.find_account_by_id(session, waiting)).is_active
        with pytest.raises(NotFoundError):
            await users.find_account_by_id(session, waiting + 1000)

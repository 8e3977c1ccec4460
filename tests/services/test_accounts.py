"""The accounts service, called directly as the CLI and worker would."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from gallery.infra.runtime import Runtime
from gallery.models import OutboxMessage, Role, User
from gallery.services import accounts
from gallery.services.mail import Mailer
from gallery.services.passwords import hash_password, verify_password


async def new_user(runtime: Runtime, username: str, email: str) -> User:
    async with runtime.db.session() as session:
        return await accounts.register(
            session,
            runtime.redis,
            Mailer(runtime.settings),  # type: ignore[arg-type]
            username=username,
            email=email,
            password="long enough password",
        )


async def test_register_creates_inactive_user_and_outbox_mail_together(runtime: Runtime) -> None:
    user = await new_user(runtime, "Alice", "Alice@Example.com")
    assert user.is_active is False
    assert user.username == "Alice" and user.username_key == "alice"
    assert user.email == "Alice@example.com"  # the domain is normalised, the local part kept
    assert user.permissions == Role.USER
    assert user.password_hash.startswith("$argon2id$")
    async with runtime.db.session() as session:
        [mail] = list(await session.scalars(select(OutboxMessage)))
    assert mail.recipient == "Alice@example.com"
    assert "/activate/" in mail.body_text and "/activate/" in mail.body_html


async def test_emails_differing_only_by_accent_are_different_accounts(runtime: Runtime) -> None:
    # MariaDB's default collation would call these equal; the unique key must not.
    await new_user(runtime, "jose1", "jose@example.com")
    await new_user(runtime, "jose2", "josé@example.com")
    async with runtime.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 2
        found = await accounts.find_by_email(session, "JOSÉ@example.com")
    assert found is not None and found.username == "jose2"


async def test_concurrent_registrations_of_one_name_create_one_account(runtime: Runtime) -> None:
    results = await asyncio.gather(
        *(new_user(runtime, "racer", f"racer{n}@example.com") for n in range(4)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, User) for r in results) == 1
    assert all(isinstance(r, accounts.AccountError) for r in results if not isinstance(r, User))
    async with runtime.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


@pytest.mark.parametrize(
    ("username", "email", "password", "field"),
    [
        ("a", "a@example.com", "long enough", "username"),
        ("has space", "a@example.com", "long enough", "username"),
        ("ok_name", "no-at-sign", "long enough", "email"),
        ("ok_name", "a@example.com", "short", "password"),
        ("ok_name", "a@example.com", "x" * 300, "password"),
    ],
)
async def test_register_refuses_bad_input(
    runtime: Runtime, username: str, email: str, password: str, field: str
) -> None:
    async with runtime.db.session() as session:
        with pytest.raises(accounts.AccountError) as error:
            await accounts.register(
                session,
                runtime.redis,
                Mailer(runtime.settings),  # type: ignore[arg-type]
                username=username,
                email=email,
                password=password,
            )
    assert error.value.field == field
    async with runtime.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_authenticate(runtime: Runtime) -> None:
    user = await new_user(runtime, "alice", "alice@example.com")
    async with runtime.db.session() as session:
        with pytest.raises(accounts.InactiveAccount):
            await accounts.authenticate(session, "alice", "long enough password")
        stored = await session.get(User, user.id)
        assert stored is not None
        stored.is_active = True
        await session.commit()
        assert (
            await accounts.authenticate(session, "ALICE@example.com", "long enough password")
        ).id == user.id
        with pytest.raises(accounts.InvalidCredentials):
            await accounts.authenticate(session, "alice", "wrong password!")
        with pytest.raises(accounts.InvalidCredentials):
            await accounts.authenticate(session, "", "long enough password")


async def test_create_admin_is_active_with_every_permission(runtime: Runtime) -> None:
    async with runtime.db.session() as session:
        admin = await accounts.create_admin(
            session, username="root", email="root@example.com", password="administrator!"
        )
    assert admin.is_active and admin.permissions == Role.ADMINISTRATOR == 31
    assert admin.role_name == "administrator"


async def test_password_hashing_runs_off_the_event_loop() -> None:
    # If hashing ran on the loop, this ticker could not advance while it runs.
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    password_hash = await hash_password("a password to hash")
    assert await verify_password(password_hash, "a password to hash")
    stop.set()
    await task
    assert ticks > 10

"""The accounts service, called directly as the CLI and worker would."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
from sqlalchemy import func, select

from gallery.infra.runtime import Runtime
from gallery.models import OutboxMessage, Role, User
from gallery.services import accounts, passwords
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


async def test_password_hashing_runs_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real Argon2 hasher, made to wait until the event loop has turned ten
    # times first. Off the loop, the ticker below turns it and lets the hash go;
    # on the loop, the loop could not turn while the hash waits, and the wait
    # would run out. (Counting the ticks during a hash of a few milliseconds
    # instead failed on a loaded machine, where the thread could finish first.)
    loop_turned = threading.Event()
    argon2 = passwords._hasher()
    waits: list[bool] = []

    class WaitingHasher:
        def hash(self, password: str) -> str:
            waits.append(loop_turned.wait(timeout=10))
            return argon2.hash(password)

        def verify(self, password_hash: str, password: str) -> bool:
            waits.append(loop_turned.wait(timeout=10))
            return argon2.verify(password_hash, password)

    monkeypatch.setattr(passwords, "_hasher", WaitingHasher)
    stop = asyncio.Event()

    async def ticker() -> None:
        ticks = 0
        while not stop.is_set():
            ticks += 1
            if ticks == 10:
                loop_turned.set()
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    password_hash = await hash_password("a password to hash")
    assert await verify_password(password_hash, "a password to hash")
    stop.set()
    await task
    assert waits == [True, True]


# -- issue 13: registration that does not reveal a taken address, one sign-in counter


async def sign_up(runtime: Runtime, username: str, email: str) -> accounts.SignUp:
    async with runtime.db.session() as session:
        return await accounts.sign_up(
            session,
            runtime.redis,  # type: ignore[arg-type]
            Mailer(runtime.settings),
            username=username,
            email=email,
            password="long enough password",
        )


async def outbox(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.db.session() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_register_says_which_name_is_taken_username_first(runtime: Runtime) -> None:
    alice = await new_user(runtime, "alice", "alice@example.com")
    await new_user(runtime, "bob", "bob@example.com")
    with pytest.raises(accounts.EmailTaken) as taken:
        await new_user(runtime, "carol", " ALICE@example.com ")
    assert taken.value.owner.id == alice.id and taken.value.field == "email"
    # Bob's name and Alice's address: the (public) username is what is said.
    for username in ("bob", "BOB", "alice"):
        with pytest.raises(accounts.UsernameTaken) as error:
            await new_user(runtime, username, "alice@example.com")
        assert error.value.field == "username"


async def test_sign_up_with_a_taken_email_creates_nothing_and_mails_the_owner(
    runtime: Runtime,
) -> None:
    alice = await new_user(runtime, "alice", "alice@example.com")
    before = len(await outbox(runtime))
    answer = await sign_up(runtime, "mallory", "Alice@EXAMPLE.com")
    # The answer a new account gets: the names as they were typed, normalised.
    assert answer == accounts.SignUp(username="mallory", email="Alice@example.com")
    async with runtime.db.session() as session:
        assert list(await session.scalars(select(User.username))) == ["alice"]
    [note] = (await outbox(runtime))[before:]
    assert note.recipient == alice.email
    assert note.subject == "Someone tried to register with your e-mail address"
    # No activation link: only the page that asks for one.
    assert re.findall(r"/activate/[\w-]+", note.body_text) == ["/activate/resend"]
    # Alice's account is not active yet: the note offers a fresh activation link.
    assert "/activate/resend?email=alice%40example.com" in note.body_text
    assert "/password/forgot?email=alice%40example.com" in note.body_text
    assert "/activate/resend?email=alice%40example.com" in note.body_html

    # More attempts within the hour: the same answer, no more mail to her.
    assert await sign_up(runtime, "trudy", "alice@example.com") == accounts.SignUp(
        username="trudy", email="alice@example.com"
    )
    assert len(await outbox(runtime)) == before + 1
    assert runtime.redis is not None
    ttl = await runtime.redis.ttl(f"{accounts.REGISTRATION_ATTEMPT_MAIL_PREFIX}{alice.id}")
    assert 0 < ttl <= accounts.REGISTRATION_ATTEMPT_MAIL_SECONDS


async def test_sign_up_still_refuses_a_taken_username_and_bad_input(runtime: Runtime) -> None:
    await new_user(runtime, "alice", "alice@example.com")
    with pytest.raises(accounts.UsernameTaken):
        await sign_up(runtime, "Alice", "alice@example.com")
    with pytest.raises(accounts.AccountError) as error:
        await sign_up(runtime, "bob", "not-an-address")
    assert error.value.field == "email"
    assert len(await outbox(runtime)) == 1  # alice's activation mail, nothing more


async def test_concurrent_sign_ups_with_one_address_make_one_account(runtime: Runtime) -> None:
    results = await asyncio.gather(
        *(sign_up(runtime, f"racer{n}", "racer@example.com") for n in range(4)),
        return_exceptions=True,
    )
    # Whoever lost the race (before or at the unique index) hears what the winner heard.
    assert all(isinstance(result, accounts.SignUp) for result in results), results
    async with runtime.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
    subjects = sorted(mail.subject for mail in await outbox(runtime))
    assert subjects == [
        "Activate your Gallery account",
        "Someone tried to register with your e-mail address",
    ]


async def test_one_sign_in_key_per_account_however_it_is_typed(runtime: Runtime) -> None:
    alice = await new_user(runtime, "Alice", "Alice@Example.com")
    async with runtime.db.session() as session:
        for login in ("alice", " ALICE ", "alice@example.com", "ALICE@EXAMPLE.COM "):
            account = await accounts.find_by_login(session, login)
            assert account is not None and account.id == alice.id
            assert accounts.sign_in_attempts_key(account, login) == f"account:{alice.id}"
        assert await accounts.find_by_login(session, "   ") is None
        for login in ("Mallory", " mallory  ", "MALLORY"):
            assert await accounts.find_by_login(session, login) is None
            assert accounts.sign_in_attempts_key(None, login) == "unknown:mallory"


async def test_check_sign_in_refuses_no_account_as_a_wrong_password(runtime: Runtime) -> None:
    alice = await new_user(runtime, "alice", "alice@example.com")
    with pytest.raises(accounts.InvalidCredentials) as unknown:
        await accounts.check_sign_in(None, "long enough password")
    with pytest.raises(accounts.InvalidCredentials) as wrong:
        await accounts.check_sign_in(alice, "not the password")
    assert unknown.value.message == wrong.value.message
    with pytest.raises(accounts.InactiveAccount):
        await accounts.check_sign_in(alice, "long enough password")

"""Permission bits, roles, ``can``/``require_permission`` and who outranks whom.

Pure functions of an account's fields: the accounts here are never stored.
"""

from __future__ import annotations

from itertools import product

import pytest

from gallery.models import Permission, Role, User
from gallery.models.base import utcnow
from gallery.services.errors import PermissionDenied
from gallery.services.permissions import (
    LOCKED_MESSAGE,
    AccountLocked,
    can,
    outranks,
    require_permission,
)

ROLES = {"user": Role.USER, "moderator": Role.MODERATOR, "administrator": Role.ADMINISTRATOR}
BITS = list(Permission)


def account(
    role: int = Role.USER, *, user_id: int = 1, active: bool = True, locked: bool = False
) -> User:
    return User(
        id=user_id,
        username=f"user{user_id}",
        is_active=active,
        permissions=int(role),
        locked_at=utcnow() if locked else None,
        lock_reason="spam" if locked else None,
    )


# -- bits and roles --------------------------------------------------------------


async def test_the_bits_and_the_roles_made_of_them() -> None:
    assert [int(bit) for bit in BITS] == [1, 2, 4, 8, 16]
    assert int(Role.USER) == 7
    assert int(Role.MODERATOR) == 15
    assert int(Role.ADMINISTRATOR) == 31
    assert [Role.name_of(int(bits)) for bits in ROLES.values()] == list(ROLES)
    assert Role.bits_of(" Admin ") == Role.ADMINISTRATOR
    assert Role.bits_of("MODERATOR") == Role.MODERATOR
    with pytest.raises(ValueError, match="root"):
        Role.bits_of("root")


@pytest.mark.parametrize(("role", "bit"), list(product(ROLES, BITS)))
async def test_can_is_exactly_the_bits_of_the_role(role: str, bit: Permission) -> None:
    user = account(ROLES[role])
    expected = bool(ROLES[role] & bit)
    assert can(user, bit) is expected
    assert user.can(bit) is expected
    assert user.has_bits(bit) is expected
    assert can(user) is True  # any action: active and unlocked is enough


async def test_nobody_signed_in_can_do_nothing() -> None:
    assert can(None) is False
    for bit in BITS:
        assert can(None, bit) is False


async def test_an_inactive_account_can_do_nothing() -> None:
    for role, bit in product(ROLES.values(), [*BITS, None]):
        assert can(account(role, active=False), bit) is False


@pytest.mark.parametrize("role", list(ROLES))
async def test_a_locked_account_can_do_nothing_whatever_its_role(role: str) -> None:
    user = account(ROLES[role], locked=True)
    assert user.is_locked
    assert can(user) is False
    for bit in BITS:
        assert can(user, bit) is False
        assert user.can(bit) is False
        # The role itself is untouched (outranks reads it).
        assert user.has_bits(bit) is bool(ROLES[role] & bit)


async def test_an_account_without_bits_may_still_act_at_all() -> None:
    # Liking and reporting need no bit, only an active, unlocked account.
    bare = account(0)
    assert can(bare) is True
    assert not any(can(bare, bit) for bit in BITS)


# -- require_permission ----------------------------------------------------------


@pytest.mark.parametrize("role", list(ROLES))
async def test_require_permission_says_a_locked_account_is_locked(role: str) -> None:
    user = account(ROLES[role], locked=True)
    for bit in [bit for bit in BITS if ROLES[role] & bit] + [None]:
        with pytest.raises(AccountLocked) as refused:
            require_permission(user, bit)
        assert refused.value.message == LOCKED_MESSAGE
        assert str(refused.value) == LOCKED_MESSAGE
        assert isinstance(refused.value, PermissionDenied)
        assert refused.value.status == 403


@pytest.mark.parametrize("role", ["user", "moderator"])
async def test_a_locked_account_lacking_the_bit_is_told_it_lacks_the_bit(role: str) -> None:
    # The lock is not the reason there: unlocking would not let it through.
    user = account(ROLES[role], locked=True)
    for bit in [bit for bit in BITS if not ROLES[role] & bit]:
        with pytest.raises(PermissionDenied) as refused:
            require_permission(user, bit)
        assert type(refused.value) is PermissionDenied
        assert refused.value.message.startswith("Your account may not ")


async def test_require_permission_names_the_missing_action() -> None:
    cases = [
        (account(Role.USER), Permission.MODERATE, "Your account may not moderate."),
        (
            account(Role.MODERATOR),
            Permission.ADMINISTER,
            "Your account may not administer the site.",
        ),
        (
            account(int(Role.USER) & ~int(Permission.UPLOAD)),
            Permission.UPLOAD,
            "Your account may not upload images.",
        ),
        (account(0), Permission.FOLLOW, "Your account may not follow people."),
        (account(0), Permission.COMMENT, "Your account may not comment."),
    ]
    for user, bit, message in cases:
        with pytest.raises(PermissionDenied) as refused:
            require_permission(user, bit)
        assert type(refused.value) is PermissionDenied
        assert refused.value.message == message


async def test_require_permission_refuses_an_inactive_account_without_calling_it_locked() -> None:
    for locked in (False, True):
        user = account(Role.ADMINISTRATOR, active=False, locked=locked)
        for bit in [*BITS, None]:
            with pytest.raises(PermissionDenied) as refused:
                require_permission(user, bit)
            assert type(refused.value) is PermissionDenied


async def test_require_permission_lets_the_right_bits_through() -> None:
    for role, bit in product(ROLES.values(), [*BITS, None]):
        if bit is None or role & bit:
            require_permission(account(role), bit)


# -- outranks --------------------------------------------------------------------


async def test_administrators_outrank_moderators_who_outrank_users() -> None:
    user = account(Role.USER, user_id=1)
    moderator = account(Role.MODERATOR, user_id=2)
    administrator = account(Role.ADMINISTRATOR, user_id=3)
    assert outranks(administrator, moderator)
    assert outranks(administrator, user)
    assert outranks(moderator, user)
    assert not outranks(moderator, administrator)
    assert not outranks(user, moderator)
    assert not outranks(user, administrator)
    assert not outranks(user, account(Role.USER, user_id=4))


async def test_nobody_outranks_themselves() -> None:
    for role in ROLES.values():
        user = account(role)
        assert not outranks(user, user)
        # The same account loaded twice is still the same account.
        assert not outranks(user, account(role))


async def test_a_moderator_does_not_outrank_another_moderator_but_an_administrator_does() -> None:
    first = account(Role.MODERATOR, user_id=1)
    second = account(Role.MODERATOR, user_id=2)
    assert not outranks(first, second)
    assert not outranks(second, first)
    # Locked or not: the bits decide, so a locked moderator stays out of reach.
    assert not outranks(first, account(Role.MODERATOR, user_id=3, locked=True))
    assert not outranks(first, account(Role.ADMINISTRATOR, user_id=4, locked=True))
    assert outranks(account(Role.ADMINISTRATOR, user_id=5), second)
    assert outranks(account(Role.ADMINISTRATOR, user_id=5), account(Role.ADMINISTRATOR, user_id=6))


async def test_a_locked_or_inactive_administrator_outranks_nobody() -> None:
    others = [account(role, user_id=index + 10) for index, role in enumerate(ROLES.values())]
    for disabled in (
        account(Role.ADMINISTRATOR, locked=True),
        account(Role.ADMINISTRATOR, active=False),
        account(Role.MODERATOR, locked=True),
    ):
        assert not any(outranks(disabled, other) for other in others)

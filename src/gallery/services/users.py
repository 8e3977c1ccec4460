"""Finding users (by name or id) and what their public profile counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gallery.models.image import Image
from gallery.models.user import User
from gallery.services.errors import NotFoundError
from gallery.services.visibility import check_not_blocked, no_user_message


@dataclass(frozen=True)
class Profile:
    user: User
    image_count: int


async def set_show_sensitive(session: AsyncSession, user: User, *, show: bool) -> None:
    """The viewer's setting: photos marked sensitive shown unblurred (``show``) or not."""
    user.show_sensitive = show
    await session.commit()


async def find_by_username(session: AsyncSession, username: str) -> User:
    """The activated user called ``username`` (any case); ``NotFoundError`` otherwise.

    Accounts that were never activated have no public profile.
    """
    user = await session.scalar(
        select(User).where(User.username_key == User.key_for(username), User.is_active)
    )
    if user is None:
        raise NotFoundError(no_user_message(username))
    return user


async def find_visible(session: AsyncSession, username: str, viewer: User | None) -> User:
    """As ``find_by_username``, and ``NotFoundError`` too where a block stands
    between ``viewer`` and that user (each is absent to the other)."""
    user = await find_by_username(session, username)
    await check_not_blocked(session, viewer, user.id, no_user_message(username))
    return user


async def profile(session: AsyncSession, username: str, viewer: User | None) -> Profile:
    """A user's public profile with its counts (``NotFoundError`` across a block)."""
    user = await find_visible(session, username, viewer)
    image_count = await session.scalar(
        select(func.count()).select_from(Image).where(Image.author_id == user.id)
    )
    return Profile(user=user, image_count=image_count or 0)


async def find_by_id(session: AsyncSession, user_id: int) -> User:
    """The activated user with that id; ``NotFoundError`` otherwise."""
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFoundError("There is no user with that id.")
    return user


async def find_account_by_username(session: AsyncSession, username: str) -> User:
    """The account called ``username`` (any case), activated or not; ``NotFoundError`` if none.

    For the site's own tools (``gallery import``): unlike a public profile,
    they must tell "no such user" apart from "not activated yet", so they get
    the account in any state and decide themselves what it may do.
    """
    user = await session.scalar(select(User).where(User.username_key == User.key_for(username)))
    if user is None:
        raise NotFoundError(f"There is no user called {username!r}.")
    return user


async def find_account_by_id(session: AsyncSession, user_id: int) -> User:
    """The account with that id, activated or not; ``NotFoundError`` if it is gone.

    For tools that found the account earlier and act as it now (``gallery
    import``, file by file): only a deleted account stops them here, the rest
    (a lock, a lost permission) is for the service they call to refuse.
    """
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError("There is no user with that id.")
    return user

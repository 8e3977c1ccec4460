"""Where an avatar is shown from: the stored sizes, or a generated one.

Until someone uploads an avatar (services/profiles.py), they get a generated
one rather than the same grey figure as everyone: up to two initials of their
shown name, white on a hue of their own. It is drawn from its address alone
(``/avatars/<hue>/<letters>.svg``, web/avatars.py), so it needs no query and
caches forever; a new display name gives a new address.
"""

from __future__ import annotations

from urllib.parse import quote

from gallery.infra.storage import Storage
from gallery.models.user import User, avatar_file_key

# One of this many hues, picked by the account's id (so it survives renames).
GENERATED_HUES = 24
GENERATED_HUE_STEP = 360 // GENERATED_HUES
GENERATED_PATH = "/avatars/{hue}/{letters}.svg"

# The size in pixels the JSON's ``avatar_url`` gives: sharp at 32 px on 2× screens,
# as cards, comments and notices show it.
SMALL_SIZE = 64


def avatar_url(user: User, storage: Storage | None, size: int = SMALL_SIZE) -> str:
    """Where ``user``'s avatar is fetched from at ``size`` pixels (one of AVATAR_SIZES)."""
    if user.avatar_key and storage is not None:
        return storage.url(avatar_file_key(user.avatar_key, size))
    return generated_avatar_path(user)


def generated_letters(name: str) -> str:
    """Up to two capital letters for a generated avatar: the first letters of
    the first two words of ``name`` ("Ada Lovelace" → "AL", "bob_s" → "B")."""
    words = [word for word in name.replace("_", " ").replace(".", " ").split() if word]
    letters = "".join(word[0] for word in words[:2] if word[0].isalnum())
    return (letters or "?").upper()


def generated_hue(user_id: int) -> int:
    """The account's hue in degrees: spread over the wheel by a multiplicative hash."""
    return (user_id * 11 % GENERATED_HUES) * GENERATED_HUE_STEP


def generated_avatar_path(user: User) -> str:
    """The address of ``user``'s generated avatar (web/avatars.py draws it)."""
    return GENERATED_PATH.format(
        hue=generated_hue(user.id), letters=quote(generated_letters(user.shown_name), safe="")
    )


def generated_avatar_svg(letters: str, hue: int) -> str:
    """The generated avatar itself: ``letters`` white on a circle of ``hue``.

    The letters are checked by the caller (at most two letters or digits), so
    they need no escaping; scalable, so one file serves every size.
    """
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
        f'<rect width="64" height="64" fill="hsl({hue} 55% 42%)"/>'
        '<text x="32" y="32" dy=".35em" text-anchor="middle" fill="#fff" '
        'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif" '
        f'font-size="{28 if len(letters) > 1 else 32}" font-weight="600">{letters}</text></svg>'
    )


def valid_generated(letters: str, hue: int) -> bool:
    """Whether ``letters``/``hue`` could come from ``generated_avatar_path`` (else 404)."""
    return (
        0 < len(letters) <= 2
        and all(character.isalnum() or character == "?" for character in letters)
        and letters == letters.upper()
        and 0 <= hue < 360
        and hue % GENERATED_HUE_STEP == 0
    )

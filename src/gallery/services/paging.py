"""Paging: opaque keyset cursors and page sizes, shared by every list the site pages.

Keyset pages continue after the last id a client saw, so they stay stable
while new rows arrive; the cursor is opaque (base64url of ``v1:<id>``) so its
form can change without breaking clients, and anything we did not issue is a
clear 400 rather than a query.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

from gallery.services.errors import InvalidInput

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

UNPADDED_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
CURSOR_PATTERN = re.compile(r"v1:([1-9][0-9]{0,9})")
# Ids are 32-bit integer columns; a bigger number in a cursor is not one we issued.
MAX_ID = 2**31 - 1


# -- cursors ---------------------------------------------------------------


def pack_cursor(text: str) -> str:
    """``text`` as an opaque cursor (unpadded base64url): clients pass it back as they got it."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def unpack_cursor(cursor: str, *, max_length: int = 40) -> str | None:
    """What ``pack_cursor`` packed, or None for anything it cannot have made."""
    # Only the unpadded URL-safe alphabet we issue; base64 decoders forgive more.
    if len(cursor) > max_length or not UNPADDED_BASE64URL.fullmatch(cursor):
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeError, ValueError):
        return None


def invalid_cursor() -> InvalidInput:
    return InvalidInput(
        "The cursor is not valid: pass next_cursor from the previous page unchanged.",
        field="cursor",
    )


def encode_cursor(last_id: int) -> str:
    """The cursor of a keyset page that continues after ``last_id``."""
    return pack_cursor(f"v1:{last_id}")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a page continues after; ``InvalidInput`` for anything we did not issue."""
    if cursor is None or cursor == "":
        return None
    found = CURSOR_PATTERN.fullmatch(unpack_cursor(cursor) or "")
    if found is None or int(found.group(1)) > MAX_ID:
        raise invalid_cursor()
    return int(found.group(1))


class HasId(Protocol):
    @property
    def id(self) -> int: ...


Row = TypeVar("Row", bound=HasId)


def trim_page(rows: Sequence[Row], size: int) -> tuple[list[Row], str | None]:
    """Pages fetch ``size + 1`` rows to learn whether more follow: the page, and
    the cursor after its last row when they do (keyset on ``id``)."""
    page = list(rows[:size])
    return page, encode_cursor(page[-1].id) if len(rows) > size else None


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    return limit

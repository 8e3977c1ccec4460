"""Checks shared by the services for the free text people type in."""

from __future__ import annotations

from gallery.services.errors import InvalidInput


def bounded_text(
    value: str | None, *, what: str, field: str, max_length: int, missing: str | None = None
) -> str:
    """``value`` trimmed, at most ``max_length`` characters; ``InvalidInput`` otherwise.

    ``missing`` is the message for an empty value; without it, empty is fine.
    """
    text = (value or "").strip()
    if missing is not None and not text:
        raise InvalidInput(missing, field=field)
    if len(text) > max_length:
        raise InvalidInput(f"The {what} is too long: at most {max_length} characters.", field=field)
    return text

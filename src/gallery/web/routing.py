"""URL converters: integers in paths stay within what the id columns hold."""

from __future__ import annotations

from typing import Any

from quart import Quart
from werkzeug.routing import IntegerConverter, Map

MAX_PATH_INTEGER = 2**31 - 1


def digits_up_to(limit: int) -> str:
    """A regex matching the decimal numbers 0..``limit`` (and no larger one).

    ``digits_up_to(2047)`` is ``\\d{1,3}|1\\d{3}|20[0-3]\\d{1}|204[0-6]|2047``:
    the shorter numbers, then, digit by digit, those that fall below ``limit``
    at that digit, then ``limit`` itself.
    """
    text = str(limit)
    alternatives = [rf"\d{{1,{len(text) - 1}}}"] if len(text) > 1 else []
    for position, digit in enumerate(text):
        lowest = 1 if position == 0 and len(text) > 1 else 0
        if int(digit) > lowest:
            rest = len(text) - position - 1
            below = f"[{lowest}-{int(digit) - 1}]" if int(digit) - 1 > lowest else str(lowest)
            alternatives.append(text[:position] + below + (rf"\d{{{rest}}}" if rest else ""))
    alternatives.append(text)
    return "|".join(alternatives)


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` that answers 404 beyond a 32-bit id instead of an overflow in SQL.

    The bound is in the regex too, not only in ``to_python``: werkzeug checks a
    rule's methods before converting its arguments, so where several rules
    share a path (GET, PATCH and DELETE ``/api/v1/images/<id>``) an id out of
    range would match the others by path alone and answer 405, not 404.
    """

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_PATH_INTEGER)
        super().__init__(url_map, *args, **kwargs)
        if self.max is not None and not self.fixed_digits:
            self.regex = f"(?:{digits_up_to(self.max)})"


def init_routing(app: Quart) -> None:
    """Before any blueprint is registered: rules pick their converters when added."""
    app.url_map.converters["int"] = BoundedIntConverter

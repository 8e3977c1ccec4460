"""URL converters: integers in paths stay within what the id columns hold."""

from __future__ import annotations

from typing import Any

from quart import Quart
from werkzeug.routing import IntegerConverter, Map

MAX_PATH_INTEGER = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` that answers 404 beyond a 32-bit id instead of an overflow in SQL."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_PATH_INTEGER)
        super().__init__(url_map, *args, **kwargs)


def init_routing(app: Quart) -> None:
    """Before any blueprint is registered: rules pick their converters when added."""
    app.url_map.converters["int"] = BoundedIntConverter

"""orjson as the app's JSON encoder: ``jsonify``, quart-schema's responses and ``tojson``.

The standard library's encoder was most of the cost of a JSON feed page after
the queries; orjson encodes the same structures (dataclasses, datetimes, enums
included) several times faster. Anything it does not know goes through the
provider quart-schema installed (pydantic's ``to_jsonable_python``), so the
output stays what it was: compact, UTF-8, keys in insertion order.
"""

from __future__ import annotations

from typing import Any

import orjson
from quart import Quart, Response
from quart.json.provider import DefaultJSONProvider


class OrjsonProvider(DefaultJSONProvider):
    def __init__(self, app: Quart, fallback: DefaultJSONProvider) -> None:
        super().__init__(app)
        self._fallback_default = fallback.default

    def _encode(self, obj: Any, *, sort_keys: bool = False) -> bytes:
        option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
        return orjson.dumps(obj, default=self._fallback_default, option=option)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        sort_keys = bool(kwargs.pop("sort_keys", False))
        kwargs.pop("ensure_ascii", None)  # UTF-8 is valid JSON, and what browsers get anyway
        if kwargs:  # indent=, separators=, cls=…: what only the standard encoder offers
            return super().dumps(obj, sort_keys=sort_keys, **kwargs)
        return self._encode(obj, sort_keys=sort_keys).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s) if not kwargs else super().loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = self._encode(self._prepare_response_obj(args, kwargs))
        return self._app.response_class(body, mimetype=self.mimetype)  # type: ignore[arg-type, return-value]


def use_orjson(app: Quart) -> None:
    """Install the provider; call after quart-schema (whose fallbacks it keeps) and
    before anything renders a template (Jinja's ``tojson`` takes ``dumps`` then)."""
    app.json = OrjsonProvider(app, app.json)  # type: ignore[arg-type]

"""Query-string validation with the validator built once per route, not per request.

quart-schema's ``validate_querystring`` makes a new pydantic ``TypeAdapter``
(schema generation included) on every request: about 40 % of a 304 poll's
time. This decorator does the same job, and is documented the same way in
``/openapi.json``, with the adapter made when the route is defined.

The paging models carry their bounds (``limit``, the cursors' length and
alphabet), so the document states exactly what the validation refuses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Annotated, Any, TypeVar

from pydantic import Field, TypeAdapter, ValidationError
from quart import request
from quart_schema.validation import QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, QuerystringValidationError

from gallery.services import paging

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def validate_query(model_class: type[Any]) -> Callable[[Handler], Handler]:
    """Pass the query string, validated as ``model_class``, to the view as ``query_args``.

    Repeated keys (``?a=1&a=2``) and ``key[]`` become lists, as in quart-schema;
    invalid input is its ``QuerystringValidationError`` (400).
    """
    adapter = TypeAdapter(model_class)

    def decorator(func: Handler) -> Handler:
        # quart-schema's OpenAPI generator reads this attribute off the view.
        setattr(func, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE, model_class)

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            arguments: dict[str, Any] = {}
            for key, values in request.args.lists():
                if key.endswith("[]"):
                    arguments[key.removesuffix("[]")] = values
                else:
                    arguments[key] = values if len(values) > 1 else values[0]
            try:
                query_args = adapter.validate_python(arguments)
            except (ValidationError, TypeError, ValueError) as error:
                raise QuerystringValidationError(error) from error
            return await func(*args, query_args=query_args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


# -- the bounds of paging, in the document and in the validation alike ----------

Limit = Annotated[
    int,
    Field(
        ge=1,
        le=paging.MAX_LIMIT,
        description=f"Items per page, 1–{paging.MAX_LIMIT} (default {paging.DEFAULT_LIMIT}).",
    ),
]

# The longest cursor each kind of list issues and accepts (services/paging.py's
# ``unpack_cursor`` default, services/ranking.py's hot cursors); the service
# refuses a longer one too, this says it in the document.
KEYSET_CURSOR_MAX_LENGTH = 40
HOT_CURSOR_MAX_LENGTH = 60
# Cursors are unpadded base64url, as ``paging.pack_cursor`` makes them; empty
# means the first page.
CURSOR_PATTERN = f"^(?:{paging.UNPADDED_BASE64URL.pattern})?$"
CURSOR_DESCRIPTION = (
    "The `next_cursor` of the previous page, unchanged (absent or empty: the first page). "
    "Anything else is refused with 400."
)


def cursor_field(max_length: int) -> Any:
    """A cursor's bounds: at most ``max_length`` characters of the base64url alphabet."""
    return Field(max_length=max_length, pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)


KeysetCursor = Annotated[str, cursor_field(KEYSET_CURSOR_MAX_LENGTH)]
HotCursor = Annotated[str, cursor_field(HOT_CURSOR_MAX_LENGTH)]


@dataclass
class PageQuery:
    """``?limit=&cursor=``: one page of a keyset-paged list."""

    limit: Limit | None = None
    cursor: KeysetCursor | None = None


# A page re-reading the counts of the photos it shows (after a live reconnect).
MAX_COUNT_IDS = 100
IdList = Annotated[
    str,
    Field(
        pattern=rf"^[1-9][0-9]{{0,17}}(,[1-9][0-9]{{0,17}}){{0,{MAX_COUNT_IDS - 1}}}$",
        max_length=MAX_COUNT_IDS * 19,
        description=f"Image ids separated by commas, at most {MAX_COUNT_IDS}.",
    ),
]


@dataclass
class IdsQuery:
    """``?ids=1,2,3``: the images to look up."""

    ids: IdList

    @property
    def id_list(self) -> list[int]:
        return list(dict.fromkeys(int(part) for part in self.ids.split(",")))


@dataclass
class HotPageQuery:
    """``?limit=&cursor=`` of the hot feed, whose cursors also name the ranking they page."""

    limit: Limit | None = None
    cursor: HotCursor | None = None

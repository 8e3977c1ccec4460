"""JSON request bodies: quart-schema's validation, with a body that is not UTF-8 a 400.

Quart decodes the body as UTF-8 before parsing it, and lets the
``UnicodeDecodeError`` out: a 500 for a client's mistake (schemathesis found
it). The body is checked first here and refused like any other body that is
not the JSON the route documents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

from quart import request
from quart_schema import RequestSchemaValidationError, validate_request

Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def text_bounds(max_length: int, description: str) -> dict[str, Any]:
    """The document's bounds of free text the services check (``services.validation
    .bounded_text``, with the messages the pages show too): 1 to ``max_length``
    characters, not only spaces. For ``Field(json_schema_extra=...)``."""
    return {
        "description": description,
        "minLength": 1,
        "maxLength": max_length,
        "pattern": r"\S",  # at least one character that is not a space
    }


def validate_json(model_class: type[Any]) -> Callable[[Handler], Handler]:
    """``quart_schema.validate_request(model_class)``, refusing a non-UTF-8 body with 400.

    The view gets the validated body as ``data``, and the document describes
    it, exactly as with ``validate_request``.
    """

    def decorator(func: Handler) -> Handler:
        validated = validate_request(model_class)(func)

        @wraps(validated)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            body = await request.get_data()  # kept: the JSON parser reads it again
            if isinstance(body, bytes):
                try:
                    body.decode()
                except UnicodeDecodeError as error:
                    raise RequestSchemaValidationError(error) from error
            return await validated(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator

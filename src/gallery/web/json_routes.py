"""Which routes speak JSON, and the OpenAPI document (``/openapi.json``) that describes them.

The error handlers answer these routes in JSON; the document describes only
them, and lists every status each can really give, so that a client (or
schemathesis) never meets an answer the document did not promise.

Where a status comes from decides where it is written down:

* what a decorator on the route does, the provider reads off the view
  (``CommonStatuses``): 503 everywhere (an overloaded process, Redis or the
  database out of reach); 403 and 413 on the unsafe methods (the CSRF check,
  which may read a form body); 401 and 403 under ``@permission_required``;
  429 under ``@rate_limited``; 400 for a route with a query-string or body
  model;
* what the view's own code answers (``require_user()``, a lookup that can
  miss, a refusal from a service, an ETag poll, an empty 204), the route says
  with ``@answers(...)``, next to its ``@document_response``.

Parameters carry their bounds: path integers those of their converter (or of
``@path_bounds`` where the view checks them itself), query strings those of
their model (``web/querystring.py``), with the ``null`` of an optional field
left out (a query string has no null, only absence).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from quart_schema.openapi import OpenAPIProvider
from quart_schema.typing import Model
from quart_schema.validation import (
    QUART_SCHEMA_QUERYSTRING_ATTRIBUTE,
    QUART_SCHEMA_REQUEST_ATTRIBUTE,
    DataSource,
)
from werkzeug.routing import Rule
from werkzeug.routing.converters import BaseConverter, NumberConverter, UnicodeConverter

from gallery.web.rate_limits import declared_limits
from gallery.web.security import UNSAFE_METHODS

# Routes whose clients are scripts; the OpenAPI document describes only these.
JSON_ROUTE_PREFIXES = ("/api/", "/index/images/", "/profile/images/")

View = TypeVar("View", bound=Callable[..., Awaitable[Any]])

ANSWERS_ATTRIBUTE = "_gallery_answers"
# Where ``answers_file`` keeps the media type and description of a file success.
FILE_ATTRIBUTE = "_gallery_file"
PATH_BOUNDS_ATTRIBUTE = "_gallery_path_bounds"
ERROR_SCHEMA_NAME = "Error"

# Statuses whose answer has no body.
EMPTY_STATUSES = frozenset({204, 304})

DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    204: "No Content: done, nothing to return.",
    304: (
        "Not Modified: the `If-None-Match` header holds the current `ETag`; no body. "
        "Poll with it: an unchanged answer costs no database query."
    ),
    400: (
        "Bad request: a query parameter, the body or a value in it is not valid "
        "(`error.message` says which)."
    ),
    401: "Not signed in (JSON routes never redirect to the sign-in page).",
    403: "Forbidden",
    404: "Not found: nothing has this id or name (it may have been deleted).",
    409: "Conflict: it clashes with what is already there.",
    413: "Payload too large: the request body is over the upload limit.",
    415: "Unsupported media type: not a JPEG, PNG, GIF, WebP, HEIC or AVIF image (by content).",
    422: "Unprocessable: the image is damaged or has too many pixels.",
    429: "Too many requests: a rate limit; `Retry-After` says when to try again.",
    503: (
        "Service unavailable: the process is overloaded, or Redis or the database cannot "
        "be reached for a moment; `Retry-After` says when to try again."
    ),
}
CSRF_REFUSAL = "no valid CSRF token in the `X-CSRF-Token` header (code `CSRF_FAILED`)"
PERMISSION_REFUSAL = "the account is locked or lacks the permission"
VIEW_REFUSAL = "the view refuses it (see the operation's description)"

RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}
ETAG_HEADER = {
    "ETag": {
        "description": "Send it back in `If-None-Match` to get 304 while nothing changed.",
        "schema": {"type": "string"},
    }
}


def answers_file(media_type: str, description: str) -> Callable[[View], View]:
    """Document a success that is a file (a zip, say), not JSON: 200 with ``media_type``."""

    def decorator(view: View) -> View:
        setattr(view, FILE_ATTRIBUTE, (media_type, description))
        return view

    return decorator


def answers(*statuses: int) -> Callable[[View], View]:
    """Document the statuses the view's own code can answer, beyond its success response.

    Only what the view itself decides: 204 (an empty success), 304 (an ETag
    poll), 401 from ``require_user()``, and the refusals of the services it
    calls (403, 404, 409, 415, 422...). What the route's decorators and the
    app add (CSRF, permissions, rate limits, validation, overload) the
    provider derives itself, so no list repeats on every route.
    """
    for status in statuses:
        if status not in DESCRIPTIONS:
            raise ValueError(f"no description for status {status}: add one to DESCRIPTIONS")

    def decorator(view: View) -> View:
        declared: set[int] = set(getattr(view, ANSWERS_ATTRIBUTE, ()))
        setattr(view, ANSWERS_ATTRIBUTE, frozenset(declared | set(statuses)))
        return view

    return decorator


@dataclass(frozen=True)
class Bounds:
    """The values a path integer may take, where the view (not the URL map) checks them."""

    minimum: int | None = None
    maximum: int | None = None


def path_bounds(**bounds: Bounds) -> Callable[[View], View]:
    """Document the bounds the view itself enforces on path integers (``page=Bounds(1, 10)``).

    For bounds the URL map enforces, write them in the rule instead
    (``<int(min=1):page>``): the provider reads converters.
    """

    def decorator(view: View) -> View:
        setattr(view, PATH_BOUNDS_ATTRIBUTE, {**getattr(view, PATH_BOUNDS_ATTRIBUTE, {}), **bounds})
        return view

    return decorator


@dataclass(frozen=True)
class CommonStatuses:
    """What a route's decorators and the app make it answer, read off the view."""

    signed_in: bool  # @permission_required: 401 signed out, 403 locked or not allowed
    rate_limited: bool  # @rate_limited: 429
    validated: bool  # a query-string or body model: 400

    @classmethod
    def of(cls, view: Callable[..., Any]) -> CommonStatuses:
        return cls(
            # What web/permissions.py's decorator leaves on the view it guards.
            signed_in=hasattr(view, "required_permission"),
            rate_limited=declared_limits(view) is not None,
            validated=hasattr(view, QUART_SCHEMA_QUERYSTRING_ATTRIBUTE)
            or hasattr(view, QUART_SCHEMA_REQUEST_ATTRIBUTE),
        )

    def for_method(self, method: str, declared: frozenset[int]) -> dict[int, str]:
        """Every error status of ``method`` on the route, with why it may come."""
        statuses = set(declared) | {503}
        forbidden: list[str] = []
        if method in UNSAFE_METHODS:
            statuses |= {403, 413}
            forbidden.append(CSRF_REFUSAL)
        if self.signed_in:
            statuses |= {401, 403}
            forbidden.append(PERMISSION_REFUSAL)
        if 403 in declared:
            forbidden.append(VIEW_REFUSAL)
        if self.rate_limited:
            statuses.add(429)
        if self.validated:
            statuses.add(400)
        described = {status: DESCRIPTIONS[status] for status in statuses if status >= 400}
        if 403 in described:
            described[403] = f"Forbidden: {'; or '.join(forbidden)}."
        return described


def error_schema_reference() -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}


def without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field's schema as a query parameter's: absent, never ``null``.

    Pydantic writes ``X | None = None`` as ``anyOf: [X, {type: null}]`` with
    ``default: null``; the keywords beside ``anyOf`` (a description, bounds
    given in ``json_schema_extra``) apply to the value, so they move into it.
    """
    variants = schema.get("anyOf")
    if variants is None:
        return schema
    kept = [v for v in variants if v != {"type": "null"}]
    if len(kept) == len(variants):
        return schema
    outer = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    inner = kept[0] if len(kept) == 1 else {"anyOf": kept}
    return {**inner, **outer}


class JsonRoutesOpenAPIProvider(OpenAPIProvider):
    """``/openapi.json``: the JSON routes only, each with every status it can answer."""

    def generate_rules(self) -> Iterable[Rule]:
        return (r for r in super().generate_rules() if r.rule.startswith(JSON_ROUTE_PREFIXES))

    def schema(self) -> dict[str, Any]:
        document = super().schema()
        error_schema, definitions = self.build_response_object(self.error_model(), None)
        document["components"]["schemas"].update(definitions)
        document["components"]["schemas"][ERROR_SCHEMA_NAME] = error_schema["content"][
            "application/json"
        ]["schema"]
        return document

    @staticmethod
    def error_model() -> type[Model]:
        # Imported here: shapes imports the models, which this module (read by
        # web/errors.py at import time) has no need of otherwise.
        from gallery.web.shapes import ErrorOut

        return ErrorOut

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, Any]:
        """Path parameters with the bounds their converter enforces."""
        parameter = super().build_path_parameter(name, converter)
        schema = parameter["schema"]
        if isinstance(converter, NumberConverter):
            minimum = converter.min
            if minimum is None and not converter.signed:
                minimum = 0
            if minimum is not None:
                schema["minimum"] = minimum
            if converter.max is not None:
                schema["maximum"] = converter.max
        elif isinstance(converter, UnicodeConverter):
            # Non-empty, no slash: what the rule matches (anything else is another URL).
            schema["pattern"] = f"^{converter.regex}$"
        return parameter

    def build_querystring_parameters(
        self, model: type[Model]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Query parameters without ``null`` (absent instead), required where the model says."""
        parameters, definitions = super().build_querystring_parameters(model)
        for parameter in parameters:
            schema = without_null(parameter["schema"])
            schema.pop("title", None)
            for attribute in ("description", "required"):
                if attribute in schema:
                    parameter[attribute] = schema.pop(attribute)
            parameter["schema"] = schema
        return parameters, definitions

    def build_request_body(
        self, model: type[Model], source: DataSource
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A documented body is required: every route that has one refuses its absence."""
        body, definitions = super().build_request_body(model, source)
        return {**body, "required": True}, definitions

    def build_paths(self, rule: Rule) -> tuple[dict, dict]:
        paths, components = super().build_paths(rule)
        view = self._app.view_functions[rule.endpoint]
        common = CommonStatuses.of(view)
        declared: frozenset[int] = getattr(view, ANSWERS_ATTRIBUTE, frozenset())
        file: tuple[str, str] | None = getattr(view, FILE_ATTRIBUTE, None)
        bounds: dict[str, Bounds] = getattr(view, PATH_BOUNDS_ATTRIBUTE, {})
        for operations in paths.values():
            for method, operation in operations.items():
                # quart-schema shares one parameter list and one responses dict
                # between the methods of a rule; each method gets its own here.
                operation["parameters"] = [
                    self.bounded(parameter, bounds) for parameter in operation["parameters"]
                ]
                operation["responses"] = self.responses(
                    operation["responses"],
                    common.for_method(method.upper(), declared),
                    declared,
                    file,
                )
        return paths, components

    @staticmethod
    def bounded(parameter: dict[str, Any], bounds: dict[str, Bounds]) -> dict[str, Any]:
        found = bounds.get(parameter["name"]) if parameter["in"] == "path" else None
        if found is None:
            return parameter
        schema = dict(parameter["schema"])
        if found.minimum is not None:
            schema["minimum"] = found.minimum
        if found.maximum is not None:
            schema["maximum"] = found.maximum
        return {**parameter, "schema": schema}

    @staticmethod
    def responses(
        documented: dict[Any, dict[str, Any]],
        errors: dict[int, str],
        declared: frozenset[int],
        file: tuple[str, str] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """The success responses quart-schema built, the empty ones and the errors, by status."""
        by_status = {int(status): dict(response) for status, response in documented.items()}
        if file is not None:
            media_type, description = file
            by_status[200] = {
                "description": description,
                "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
            }
        for status, response in by_status.items():
            response["description"] = response.get("description") or DESCRIPTIONS.get(status, "")
        polled = 304 in declared
        for status in sorted(declared & EMPTY_STATUSES):
            by_status[status] = {"description": DESCRIPTIONS[status]}
            if status == 304:
                by_status[status]["headers"] = ETAG_HEADER
        if polled and 200 in by_status:
            by_status[200]["headers"] = ETAG_HEADER
        for status, description in errors.items():
            by_status[status] = {
                "description": description,
                "content": {"application/json": {"schema": error_schema_reference()}},
            }
            if status in (429, 503):
                by_status[status]["headers"] = RETRY_AFTER_HEADER
        return {str(status): by_status[status] for status in sorted(by_status)}

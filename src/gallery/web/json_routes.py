"""Which routes speak JSON: the error handlers answer them in JSON, and the
OpenAPI document describes only them."""

from __future__ import annotations

from collections.abc import Iterable

from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import Rule

# Routes whose clients are scripts; the OpenAPI document describes only these.
JSON_ROUTE_PREFIXES = ("/api/", "/index/images/", "/profile/images/")


class JsonRoutesOpenAPIProvider(OpenAPIProvider):
    """Leaves the HTML pages out of ``/openapi.json``."""

    def generate_rules(self) -> Iterable[Rule]:
        return (r for r in super().generate_rules() if r.rule.startswith(JSON_ROUTE_PREFIXES))

"""The home page and other site-wide pages."""

from __future__ import annotations

from quart import Blueprint, current_app, render_template
from quart.typing import ResponseReturnValue

bp = Blueprint("main", __name__)


@bp.get("/")
async def index() -> ResponseReturnValue:
    return await render_template("main/index.html")


@bp.get("/docs")
async def api_docs() -> ResponseReturnValue:
    """A browsable page of the OpenAPI document (served without CDN scripts, for the CSP)."""
    schema = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
    operations = [
        {
            "method": method.upper(),
            "path": path,
            "summary": (details.get("summary") or "").strip(),
            "description": (details.get("description") or "").strip(),
            "tags": details.get("tags", []),
        }
        for path, methods in sorted(schema.get("paths", {}).items())
        for method, details in methods.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    return await render_template("main/api_docs.html", info=schema["info"], operations=operations)

"""The home page and other site-wide pages."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart.typing import ResponseReturnValue

bp = Blueprint("main", __name__)


@bp.get("/")
async def index() -> ResponseReturnValue:
    return await render_template("main/index.html")

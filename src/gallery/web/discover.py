"""Tag pages and search."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("discover", __name__)

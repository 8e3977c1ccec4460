"""Social pages: the following feed, notifications, followers and following lists."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("social", __name__)

"""Hashtag feeds and search in the JSON API."""

from __future__ import annotations

from gallery.web.api import bp  # noqa: F401

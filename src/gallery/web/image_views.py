"""Counting image views from requests: who the viewer is, for the once-an-hour rule."""

from __future__ import annotations

import hashlib
import hmac

from quart import current_app, request

from gallery.services import views
from gallery.web.current_user import signed_in_user
from gallery.web.resources import resources
from gallery.web.security import client_address


def view_viewer_key() -> str:
    """``u:<user id>`` when signed in, else ``a:<keyed hash of address and browser>``.

    The hash is keyed with the app's secret, so the keys in Redis reveal no
    address (an unkeyed hash of an IPv4 address is reversed by trying them all).
    """
    viewer = signed_in_user()
    if viewer is not None:
        return f"u:{viewer.id}"
    material = f"{client_address()}\n{request.headers.get('User-Agent', '')}"
    secret = str(current_app.secret_key).encode()
    return "a:" + hmac.new(secret, material.encode(), hashlib.sha256).hexdigest()[:32]


async def record_image_view(image_id: int) -> None:
    """Count this request as a view of the image (never fails the request)."""
    await views.record_view(resources().redis, image_id=image_id, viewer_key=view_viewer_key())

"""Counting image views from requests: who the viewer is, for the once-an-hour rule."""

from __future__ import annotations

from quart import current_app

from gallery.services import views
from gallery.web.current_user import signed_in_user
from gallery.web.resources import resources
from gallery.web.security import client_address


def view_viewer_key() -> str:
    """The request's viewer: the signed-in user, else the client's address (keyed hash).

    Deliberately not the User-Agent or any other header: ``views.viewer_key``
    says why.
    """
    viewer = signed_in_user()
    return views.viewer_key(
        user_id=viewer.id if viewer is not None else None,
        address=client_address(),
        secret=str(current_app.secret_key).encode(),
    )


async def record_image_view(image_id: int) -> None:
    """Count this request as a view of the image; never fails the request.

    ``views.record_view`` fails open (a Redis that is down or slow costs the
    view, not the page), so the callers need no ``try`` of their own.
    """
    await views.record_view(resources().redis, image_id=image_id, viewer_key=view_viewer_key())

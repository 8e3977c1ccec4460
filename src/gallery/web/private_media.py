"""The files of posts that are not public: signed URLs that expire.

A public post's files are served under their storage key (``/media/<key>``,
or the bucket's URL), cached by everyone for a year. The files of a post only
followers see must not reach a stranger who got hold of a URL, so they get
another URL: ``/media/private/<photo id>/<name>?expires=…&signature=…``.

* The name is the file's part after the random stem (``display.jpg``,
  ``w640.webp``): the storage key itself never appears, so the URL tells
  nothing about where the file lies.
* The signature (HMAC-SHA256 with a key derived from the app's secret) covers
  the photo, the name and the expiry; a changed byte or a passed expiry is
  ``404``, as if there were no such file.
* Expiries fall on the hour and lie one to two hours ahead
  (``WINDOW_SECONDS``), so a page built now and cached holds the same URLs as
  one built a minute later, and the pages that show such posts carry the
  window in their version (``current_window``): a page never outlives its URLs.
* Responses are ``Cache-Control: private``: a browser keeps the file until
  the URL expires, a shared cache never.

A post that was public before keeps its storage keys, so whoever fetched
its files then may still have their public URLs (the README says so).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from quart import current_app

from gallery.models.image import Photo

WINDOW_SECONDS = 3600
PATH_PREFIX = "/media/private/"
_SIGNING_SALT = b"gallery private media"


def current_window(now: float | None = None) -> int:
    """The number of the hour we are in; pages holding signed URLs put it in their version."""
    return int(now if now is not None else time.time()) // WINDOW_SECONDS


def file_name(key: str) -> str:
    """The part of a storage key after its random stem (``display.jpg``, ``w640.webp``)."""
    return key.rsplit("/", 1)[-1].split("_", 1)[-1]


def _signature(photo_id: int, name: str, expires: int) -> str:
    secret = hmac.new(str(current_app.secret_key).encode(), _SIGNING_SALT, hashlib.sha256)
    message = f"{photo_id}/{name}/{expires}".encode()
    return hmac.new(secret.digest(), message, hashlib.sha256).hexdigest()


def private_url(photo: Photo, key: str, now: float | None = None) -> str:
    """The signed URL of one of ``photo``'s files, valid until the end of the next hour."""
    expires = (current_window(now) + 2) * WINDOW_SECONDS
    name = file_name(key)
    signature = _signature(photo.id, name, expires)
    return f"{PATH_PREFIX}{photo.id}/{name}?expires={expires}&signature={signature}"


def seconds_left(
    photo_id: int, name: str, expires: str | None, signature: str | None, now: float | None = None
) -> int:
    """How long the URL is still good for; 0 if its signature is wrong or it expired."""
    if expires is None or signature is None or not expires.isdigit() or len(expires) > 12:
        return 0
    expected = _signature(photo_id, name, int(expires))
    if not hmac.compare_digest(expected, signature):
        return 0
    return max(0, int(expires) - int(now if now is not None else time.time()))


def key_named(photo: Photo, name: str) -> str | None:
    """The storage key of ``photo``'s file called ``name``, if it has one."""
    for key in photo.storage_keys:
        if file_name(key) == name:
            return key
    return None

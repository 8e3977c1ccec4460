"""The request class: a body limit that holds while the body streams, and multipart
uploads parsed into memory, not temporary files.

Which limit a request gets is decided in ``web/body_limits.py``; this module
only makes a limit, once set, hold whichever way the body arrives and is read.
"""

from __future__ import annotations

import io
from typing import IO, Any

from quart import Request
from quart.formparser import FormDataParser
from quart.wrappers.request import Body
from werkzeug.exceptions import RequestEntityTooLarge

KIB = 1024
MIB = 1024 * KIB


def in_memory_stream(
    total_content_length: int | None,
    content_type: str | None,
    filename: str | None,
    content_length: int | None = None,
) -> IO[bytes]:
    return io.BytesIO()


def readable_size(size: int) -> str:
    """``16 MB``, ``64 KB``: the binary units the upload page already speaks in."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KB"
    return f"{size} bytes"


def default_refusal(limit: int) -> str:
    return f"The request is too large: at most {readable_size(limit)} may be sent here."


class LimitedBody(Body):
    """Quart's request body, counting every byte that arrives against the limit.

    Quart compares the bytes it *holds* with the limit, but a body that is
    iterated (the multipart parser does) hands each chunk on and forgets it,
    so a body streamed without ``Content-Length`` was never limited at all.
    Counting what was *received* makes the limit hold whether the body is
    awaited or iterated, chunked or not.

    Past the limit the body drops what it held and keeps nothing more (the
    rest of the upload is read off the connection and thrown away until the
    413 is sent), and every reader, waiting or to come, gets
    ``RequestEntityTooLarge``. The limit can be lowered once more is known
    about the request (who sent it), which re-checks what already arrived.
    """

    def __init__(self, expected_content_length: int | None, max_content_length: int | None) -> None:
        # No limit for Quart's own check: it would refuse with its generic message.
        super().__init__(expected_content_length, None)
        self.expected_content_length = expected_content_length
        self.received = 0
        self.refusal_message: str | None = None
        self._max_content_length = max_content_length
        if self._over_limit():
            self._refuse()

    @property
    def limit(self) -> int | None:
        return self._max_content_length

    @property
    def refused(self) -> bool:
        return isinstance(self._must_raise, RequestEntityTooLarge)

    def lower_limit(self, limit: int, message: str | None = None) -> None:
        """Allow at most ``limit`` bytes (never more than before), refusing at once if
        the declared length or what already arrived is over it.

        Only ever lowered: bytes past an earlier limit were not kept, so a
        higher limit later could not be honoured anyway.
        """
        if self._max_content_length is not None and limit > self._max_content_length:
            return
        self._max_content_length = limit
        self.refusal_message = message
        if self._must_raise is None and self._over_limit():
            self._refuse()

    def raise_if_refused(self) -> None:
        if self.refused:
            assert self._must_raise is not None
            raise self._must_raise

    def append(self, data: bytes) -> None:
        if not data or self._must_raise is not None:
            return
        self.received += len(data)
        if self._over_limit():
            self._refuse()
            return
        self._data.extend(data)
        self._has_data.set()

    async def __anext__(self) -> bytes:
        try:
            return await super().__anext__()
        except StopAsyncIteration:
            # A reader that was waiting for the next chunk when the body was refused
            # wakes to an empty, complete body; Quart would call that a clean end,
            # and the multipart parser would hand on a truncated form.
            if self._must_raise is not None:
                raise self._must_raise from None
            raise

    def _over_limit(self) -> bool:
        limit = self._max_content_length
        if limit is None:
            return False
        declared = self.expected_content_length
        return self.received > limit or (declared is not None and declared > limit)

    def _refuse(self) -> None:
        limit = self._max_content_length or 0
        self._must_raise = RequestEntityTooLarge(self.refusal_message or default_refusal(limit))
        # A new, empty buffer: ``clear()`` could keep the old allocation alive.
        self._data = bytearray()
        self.set_complete()


class GalleryRequest(Request):
    """Quart's request with a ``LimitedBody``, and multipart parts kept in memory.

    Werkzeug spools uploads over 500 KB to a temporary file with blocking
    writes on the event loop; the body is bounded by its limit anyway, so
    memory is the better place for it.

    ``initial_body_limit`` is the limit the body starts with, before anyone
    looked at the request; ``web/body_limits.py`` installs a subclass that
    answers it from the route and the cookies, and lowers it again once the
    sign-in is known. On its own the body is bounded by ``MAX_CONTENT_LENGTH``.
    """

    body_class = LimitedBody
    body: LimitedBody

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        first = self.initial_body_limit()
        if first is not None:
            self.limit_body(*first)

    def initial_body_limit(self) -> tuple[int, str] | None:
        """The limit (and the refusal's message) to start with; ``None``: the app's
        ``MAX_CONTENT_LENGTH`` only. Runs while the request is built, before any of
        the body arrives: no I/O, no app context."""
        return None

    def limit_body(self, limit: int, message: str | None = None) -> None:
        """Lower the body's limit (see ``LimitedBody.lower_limit``); the form parser
        is told too, so that it refuses a declared length the same way."""
        self.body.lower_limit(limit, message)
        if self.body.limit is not None:
            self.max_content_length = self.body.limit

    def make_form_data_parser(self) -> FormDataParser:
        return self.form_data_parser_class(
            max_content_length=self.max_content_length,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
            stream_factory=in_memory_stream,
        )

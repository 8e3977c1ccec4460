"""The request class: multipart uploads parsed into memory, not temporary files."""

from __future__ import annotations

import io
from typing import IO

from quart import Request
from quart.formparser import FormDataParser


def in_memory_stream(
    total_content_length: int | None,
    content_type: str | None,
    filename: str | None,
    content_length: int | None = None,
) -> IO[bytes]:
    return io.BytesIO()


class GalleryRequest(Request):
    """Werkzeug spools uploads over 500 KB to a temporary file with blocking writes
    on the event loop; the body is bounded by ``MAX_CONTENT_LENGTH`` anyway, so
    memory is the better place for it."""

    def make_form_data_parser(self) -> FormDataParser:
        return self.form_data_parser_class(
            max_content_length=self.max_content_length,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
            stream_factory=in_memory_stream,
        )

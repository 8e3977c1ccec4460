"""The composer's routes: photos sent one at a time, then the post that takes them.

``POST /images`` (in ``images.py``) makes a post from one multipart request;
these let a client send each photo on its own (a progress bar and an error of
its own per photo, each request within the upload limit) and post them
together afterwards. See ``services.drafts``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from pydantic import Field
from quart import Blueprint, Response, jsonify, request
from quart_schema import DataSource, document_request, document_response, tag
from quart_schema.pydantic import File

from gallery.models.image import (
    ALT_TEXT_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    MAX_PHOTOS_PER_POST,
    PostVisibility,
)
from gallery.models.user import Permission
from gallery.services import drafts
from gallery.services.errors import InvalidInput
from gallery.web.actions import created_post_response
from gallery.web.body_limits import accepts_uploads
from gallery.web.current_user import require_user
from gallery.web.json_bodies import validate_json
from gallery.web.json_routes import answers
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import count_attempt, rate_limit_exempt, rate_limited
from gallery.web.resources import resources
from gallery.web.routing import MAX_PATH_INTEGER
from gallery.web.shapes import ImageOut, PhotoOut, photo_out

bp = Blueprint("posts", __name__)


@dataclass
class NewPhoto:
    # For the document only: the view reads the form itself (one file, counted).
    file: Annotated[File, Field(description="A JPEG, PNG, GIF, WebP, HEIC or AVIF photo.")]
    alt_text: Annotated[
        str,
        Field(
            max_length=ALT_TEXT_MAX_LENGTH,
            description="What the photo shows (optional; it can be set when posting too).",
        ),
    ] = ""


@dataclass
class ChosenDraft:
    id: Annotated[
        int,
        Field(
            strict=True, ge=1, le=MAX_PATH_INTEGER, description="A photo from POST /api/v1/photos."
        ),
    ]
    alt_text: Annotated[str, Field(max_length=ALT_TEXT_MAX_LENGTH)] = ""


@dataclass
class NewPost:
    photos: Annotated[
        list[ChosenDraft],
        Field(
            min_length=1,
            max_length=MAX_PHOTOS_PER_POST,
            description="The photos in the order they are shown, each with its alt text.",
        ),
    ]
    description: Annotated[
        str,
        Field(
            max_length=DESCRIPTION_MAX_LENGTH,
            description=f"At most {DESCRIPTION_MAX_LENGTH} characters; #hashtags become tags.",
        ),
    ] = ""
    visibility: Annotated[
        PostVisibility,
        Field(description='Who sees the post: "public" (the default) or "followers".'),
    ] = PostVisibility.PUBLIC


@bp.post("/photos")
@accepts_uploads
@permission_required(Permission.UPLOAD)
@tag(["posts"])
@document_request(NewPhoto, source=DataSource.FORM_MULTIPART)
@document_response(PhotoOut, 201)
@answers(400, 409, 413, 415, 422)
@rate_limited("uploads", counted_in_view=True)  # once the request has its one file
async def upload_photo() -> tuple[Response, int]:
    """Send one photo for a post being composed: 201 with the photo (not shown to anyone yet).

    Post it with ``POST /api/v1/posts`` within a day, or it is removed. 409 when
    40 photos are already waiting; 415 and 422 as for any upload.
    """
    use = resources()
    user = require_user()
    files = [part for part in (await request.files).getlist("file") if part.filename]
    if len(files) != 1:
        raise InvalidInput("Send exactly one photo in the multipart field 'file'.", field="file")
    await count_attempt("uploads")
    photo = await drafts.upload_draft(
        use.db,
        use.runtime.storage,
        owner=user,
        data=files[0].read(),
        alt_text=(await request.form).get("alt_text", ""),
    )
    return jsonify(asdict(photo_out(photo, use.storage))), 201


@bp.delete("/photos/<int:photo_id>")
@tag(["posts"])
@answers(204, 401, 404, 409)
@rate_limit_exempt("removes only the caller's own unposted photo, once")
async def discard_photo(photo_id: int) -> Response:
    """Remove a photo sent for a post that was not posted: 204 (409 once it is in a post)."""
    use = resources()
    user = require_user()
    await drafts.discard_draft(use.db, use.runtime.storage, owner=user, photo_id=photo_id)
    return Response(b"", status=204)


@bp.post("/posts")
@permission_required(Permission.UPLOAD)
@tag(["posts"])
@validate_json(NewPost)
@document_response(ImageOut, 201)
@answers(400, 404)
@rate_limit_exempt("each of its photos counted an upload when it was sent")
async def create_post(data: NewPost) -> tuple[Response, int, dict[str, str]]:
    """Post the photos sent before, in this order with these alt texts: 201 with the post.

    404 names any photo that is not one of yours waiting to be posted.
    """
    use = resources()
    user = require_user()
    post = await drafts.post_drafts(
        use.db,
        use.redis,
        author=user,
        choices=[drafts.DraftChoice(choice.id, choice.alt_text) for choice in data.photos],
        description=data.description,
        visibility=data.visibility,
    )
    return await created_post_response(post)

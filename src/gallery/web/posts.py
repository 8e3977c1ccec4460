"""A post's pages after posting: editing its words, their history, its content warning.

The JSON twins are ``PATCH /api/v1/images/<id>`` and ``GET …/versions``
(``web/api/images.py``); both call ``services.posts``.
"""

from __future__ import annotations

from dataclasses import asdict

from quart import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.infra.storage import StoredFileMissing, content_type_of
from gallery.models.image import (
    ALT_TEXT_MAX_LENGTH,
    CONTENT_WARNING_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
)
from gallery.services import feeds, images, posts
from gallery.services.errors import InvalidInput
from gallery.web.current_user import require_user
from gallery.web.rate_limits import rate_limit_exempt
from gallery.web.resources import resources
from gallery.web.shapes import image_out, iso_utc

bp = Blueprint("posts", __name__)


async def render_edit(
    image_id: int,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    use = resources()
    viewer = require_user()
    card = await feeds.image_card(use.db, image_id, viewer)
    if card.image.author_id != viewer.id:
        abort(404)  # only the author edits; to anyone else there is no such page
    item = asdict(image_out(card, use.storage))
    body = await render_template(
        "images/edit.html",
        item=item,
        values=values or {},
        errors=errors or {},
        description_max_length=DESCRIPTION_MAX_LENGTH,
        alt_text_max_length=ALT_TEXT_MAX_LENGTH,
        content_warning_max_length=CONTENT_WARNING_MAX_LENGTH,
    )
    return body, status


@bp.get("/images/<int:image_id>/edit")
async def edit(image_id: int) -> ResponseReturnValue:
    """The author's form: caption, each photo's alt text, the content warning."""
    return await render_edit(image_id)


@bp.post("/images/<int:image_id>/edit")
@rate_limit_exempt("the author's changes to one post; the same again writes nothing")
async def save_edit(image_id: int) -> ResponseReturnValue:
    use = resources()
    user = require_user()
    form = await request.form
    alt_texts = {
        int(name.removeprefix("alt_text_")): value
        for name, value in form.items()
        if name.startswith("alt_text_") and name.removeprefix("alt_text_").isdigit()
    }
    changes = posts.PostChanges(
        description=form.get("description", ""),
        alt_texts=alt_texts,
        sensitive=form.get("sensitive") == "1",
        content_warning=form.get("content_warning", ""),
        visibility=form.get("visibility"),
    )
    try:
        await posts.edit_post(use.db, use.redis, image_id=image_id, actor=user, changes=changes)
    except InvalidInput as error:
        return await render_edit(
            image_id,
            values=dict(form.items()),
            errors={error.field or "description": error.message},
            status=400,
        )
    await flash("Your post is updated.", "success")
    return redirect(url_for("images.detail", image_id=image_id), 303)


@bp.get("/images/<int:image_id>/history")
async def history(image_id: int) -> ResponseReturnValue:
    """Earlier captions and alt texts: the author's and moderators' (404 for others)."""
    use = resources()
    viewer = require_user()
    versions = await posts.version_history(use.db, image_id=image_id, viewer=viewer)
    return await render_template(
        "images/history.html",
        image_id=image_id,
        versions=[
            {
                "description": version.description,
                "alt_texts": [asdict(alt) for alt in version.alt_texts],
                "valid_from": iso_utc(version.valid_from),
                "replaced_at": iso_utc(version.replaced_at) if version.replaced_at else None,
                "editor": version.editor,
            }
            for version in versions
        ],
    )


@bp.get("/images/<int:image_id>/photos/<int:photo_id>/download")
async def download_original(image_id: int, photo_id: int) -> ResponseReturnValue:
    """The stored full-size photo as a download: its author's only (404 for others).

    The cleaned original (oriented, sRGB, no metadata), not the bytes that were
    sent: those are never kept.
    """
    use = resources()
    viewer = require_user()
    post = await images.get_image(use.db, image_id)
    photo = next((p for p in post.photos if p.id == photo_id), None)
    if post.author_id != viewer.id or photo is None:
        abort(404)
    try:
        data = await use.storage.open(photo.original_key)  # blocking-ok: a coroutine
    except StoredFileMissing:
        abort(404)
    extension = photo.original_key.rsplit(".", 1)[-1]
    response = Response(data, mimetype=content_type_of(photo.original_key))
    response.headers["Content-Disposition"] = (
        f'attachment; filename="gallery-{image_id}-{photo.position + 1}.{extension}"'
    )
    return response


@bp.post("/images/<int:image_id>/sensitive")
@rate_limit_exempt("the author's or a moderator's switch on one post; again is a no-op")
async def mark_sensitive(image_id: int) -> ResponseReturnValue:
    """The post page's "Mark sensitive" / "Remove the warning" (author or moderator)."""
    use = resources()
    user = require_user()
    form = await request.form
    sensitive = form.get("sensitive") == "1"
    changes = posts.PostChanges(
        sensitive=sensitive, content_warning=form.get("content_warning", "") if sensitive else None
    )
    await posts.edit_post(use.db, use.redis, image_id=image_id, actor=user, changes=changes)
    await flash(
        "The post is shown behind its warning." if sensitive else "The warning is removed.",
        "success",
    )
    return redirect(url_for("images.detail", image_id=image_id), 303)

"""Image pages: upload, the image with its comments, deletion, and /media files."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from quart import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.infra.storage import (
    CONTENT_TYPES,
    IMMUTABLE_CACHE_CONTROL,
    StoredFileMissing,
    is_valid_key,
)
from gallery.models.comment import COMMENT_MAX_LENGTH
from gallery.models.image import ALT_TEXT_MAX_LENGTH, DESCRIPTION_MAX_LENGTH, MAX_PHOTOS_PER_POST
from gallery.models.user import Permission
from gallery.services import comments, feeds, images, social
from gallery.services.errors import InvalidInput, PermissionDenied, ServiceError
from gallery.web import private_media as signed_media
from gallery.web.actions import chosen_photos, create_comment, create_post
from gallery.web.body_limits import accepts_uploads
from gallery.web.current_user import require_user, signed_in_user
from gallery.web.image_views import record_image_view
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import RateLimited, rate_limit_exempt, rate_limited
from gallery.web.resources import resources
from gallery.web.shapes import comment_out, image_out, media_url

bp = Blueprint("images", __name__)

COMMENTS_PER_PAGE = 50


@dataclass
class UploadResult:
    filename: str
    ok: bool
    message: str
    url: str | None = None


async def render_upload(
    *,
    results: list[UploadResult] | None = None,
    description: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    settings = resources().settings
    body = await render_template(
        "images/upload.html",
        results=[asdict(r) for r in results or []],
        description=description,
        errors=errors or {},
        max_upload_mb=settings.max_upload_mb,
        max_files=MAX_PHOTOS_PER_POST,
        alt_text_max_length=ALT_TEXT_MAX_LENGTH,
        description_max_length=DESCRIPTION_MAX_LENGTH,
    )
    return body, status


@bp.get("/upload")
@permission_required(Permission.UPLOAD)
async def upload() -> ResponseReturnValue:
    return await render_upload()


@bp.post("/upload")
@accepts_uploads
@permission_required(Permission.UPLOAD)
@rate_limited("uploads", counted_in_view=True)
async def upload_files() -> ResponseReturnValue:
    """Post the chosen photos (1–10, in the order chosen) as one post.

    All of them or none: when some are refused, the page says which and why,
    and that the others were fine, and keeps the caption for another try.
    """
    form = await request.form
    description = form.get("description", "")
    try:
        chosen = await chosen_photos()
        images.check_photo_count(len(chosen.uploads))
        images.check_description(description)
    except InvalidInput as error:
        field = "description" if error.field == "description" else "file"
        return await render_upload(
            description=description, errors={field: error.message}, status=400
        )
    try:
        post = await create_post(chosen, description, form.get("visibility"))
    except images.PhotosRejected as error:
        results = [
            UploadResult(name, ok=False, message=error.failures[position].message)
            if position in error.failures
            else UploadResult(name, ok=True, message="This one is fine: choose it again.")
            for position, name in enumerate(chosen.filenames)
        ]
        return await render_upload(results=results, description=description, status=error.status)
    except ServiceError as error:
        return await render_upload(
            description=description, errors={"file": error.message}, status=error.status
        )
    except RateLimited as error:
        message = str(error.description)
        return await render_upload(description=description, errors={"file": message}, status=429)
    count = len(post.photos)
    await flash(f"Posted {count} {'photo' if count == 1 else 'photos'}.", "success")
    return redirect(url_for("images.detail", image_id=post.id), 303)


@bp.get("/images/<int:image_id>")
async def detail(image_id: int) -> ResponseReturnValue:
    use = resources()
    session = use.db
    storage = use.storage
    viewer = signed_in_user()
    card = await feeds.image_card(session, image_id, viewer)
    await record_image_view(image_id)
    page = await comments.list_comments(
        session,
        image_id,
        viewer=viewer,
        limit=COMMENTS_PER_PAGE,
        cursor=request.args.get("comments"),
    )
    more_comments_url = (
        url_for("images.detail", image_id=image_id, comments=page.next_cursor) + "#comments"
        if page.next_cursor
        else None
    )
    return await render_template(
        "images/detail.html",
        item=asdict(image_out(card, storage)),
        original_url=media_url(
            storage,
            card.image.cover,
            card.image.cover.original_key,
            is_public=card.image.is_public,
        ),
        comments=[asdict(comment_out(c, storage)) for c in page.comments],
        comments_next_cursor=page.next_cursor,
        more_comments_url=more_comments_url,
        comments_api_url=url_for("api.images.list_comments", image_id=image_id),
        # Deleting the photo and switching its comments: the same people.
        can_change=images.may_change_image(viewer, card.image),
        viewer_moderates=bool(viewer and viewer.can(Permission.MODERATE)),
        # Where `gallery import` found it: for its owner and the moderators.
        source_url=card.image.source_url if images.may_change_image(viewer, card.image) else None,
        comment_max_length=COMMENT_MAX_LENGTH,
        comments_off_message=comments.COMMENTS_OFF_MESSAGE,
        author_followed=await social.is_following(
            session, viewer.id if viewer else None, card.image.author_id
        ),
    )


@bp.post("/images/<int:image_id>/delete")
@rate_limit_exempt("the owner or a moderator, and each photo can go only once")
async def delete(image_id: int) -> ResponseReturnValue:
    use = resources()
    user = require_user()
    session = use.db
    image = await images.get_image(session, image_id)
    own = image.author_id == user.id
    await images.delete_image(session, use.storage, use.redis, image_id=image_id, actor=user)
    await flash("The photo was deleted.", "success")
    target = url_for("users.profile", username=user.username) if own else url_for("main.index")
    return redirect(target, 303)


@bp.post("/images/<int:image_id>/comments/disable")
@rate_limit_exempt("the owner's or a moderator's switch on one photo; setting it again is a no-op")
async def disable_comments(image_id: int) -> ResponseReturnValue:
    """The image page's "Turn comments off" button (owner or moderator)."""
    return await switch_comments(image_id, enabled=False)


@bp.post("/images/<int:image_id>/comments/enable")
@rate_limit_exempt("the owner's or a moderator's switch on one photo; setting it again is a no-op")
async def enable_comments(image_id: int) -> ResponseReturnValue:
    """The image page's "Turn comments on" button (owner or moderator)."""
    return await switch_comments(image_id, enabled=True)


async def switch_comments(image_id: int, *, enabled: bool) -> ResponseReturnValue:
    # Not permission_required: a locked owner may still close their photo to
    # comments; the service decides who may (owner or moderator).
    use = resources()
    user = require_user()
    await images.set_comments_enabled(
        use.db, use.redis, image_id=image_id, actor=user, enabled=enabled
    )
    message = (
        "Comments are on again for this photo."
        if enabled
        else "Comments are turned off for this photo; the ones already there stay."
    )
    await flash(message, "success")
    return redirect(url_for("images.detail", image_id=image_id) + "#comments", 303)


@bp.post("/images/<int:image_id>/comments")
@permission_required(Permission.COMMENT)
@rate_limited("comments")
async def post_comment(image_id: int) -> ResponseReturnValue:
    """The comment form without JavaScript: post, then back to the comment."""
    content = (await request.form).get("content")
    try:
        comment = await create_comment(image_id, content)
    except (InvalidInput, PermissionDenied) as error:
        # A locked account is turned away before this, with its own flash.
        # Refused outright (comments turned off), there is no form to return to.
        await flash(error.message, "danger")
        anchor = "#comments" if isinstance(error, PermissionDenied) else "#comment-form"
        return redirect(url_for("images.detail", image_id=image_id) + anchor, 303)
    target = url_for("images.detail", image_id=image_id) + f"#comment-{comment.id}"
    return redirect(target, 303)


@bp.post("/comments/<int:comment_id>/delete")
@rate_limit_exempt("its author, the photo's owner or a moderator; each comment goes only once")
async def delete_comment(comment_id: int) -> ResponseReturnValue:
    use = resources()
    user = require_user()
    image_id = await comments.delete_comment(use.db, use.redis, comment_id=comment_id, actor=user)
    await flash("The comment was deleted.", "success")
    return redirect(url_for("images.detail", image_id=image_id) + "#comments", 303)


@bp.get("/media/<path:key>")
async def media(key: str) -> ResponseReturnValue:
    """Stored files (nginx serves the same folder in production).

    Only keys of the shape we generate are looked up, so no path leaves the
    media folder; names are random and never reused, so browsers may cache
    them for a year.
    """
    if not is_valid_key(key):
        abort(404)
    content_type = CONTENT_TYPES.get(key.rsplit(".", 1)[-1])
    if content_type is None:
        abort(404)
    etag = hashlib.sha256(key.encode()).hexdigest()[:32]
    if request.if_none_match.contains(etag):
        response = Response(b"", status=304)
    else:
        try:
            storage = resources().storage
            data = await storage.open(key)  # blocking-ok: a coroutine; reads in a thread
        except StoredFileMissing:
            abort(404)
        response = Response(data, mimetype=content_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = IMMUTABLE_CACHE_CONTROL
    return response


@bp.get("/media/private/<int:photo_id>/<name>")
async def private_media(photo_id: int, name: str) -> ResponseReturnValue:
    """A file of a post that is not public, by its signed URL (``web/private_media.py``).

    A wrong signature and an expired URL answer ``404`` before the database
    is asked; the file is kept by the browser until the URL expires, never by
    a shared cache.
    """
    left = signed_media.seconds_left(
        photo_id, name, request.args.get("expires"), request.args.get("signature")
    )
    if not left:
        abort(404)
    photo = await images.find_posted_photo(resources().db, photo_id)
    key = signed_media.key_named(photo, name) if photo is not None else None
    content_type = CONTENT_TYPES.get(name.rsplit(".", 1)[-1])
    if key is None or content_type is None:
        abort(404)
    try:
        data = await resources().storage.open(key)  # blocking-ok: a coroutine; reads in a thread
    except StoredFileMissing:
        abort(404)
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = f"private, max-age={left}"
    return response

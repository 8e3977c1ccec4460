"""Images, feeds and comments in the JSON API."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from quart import Response, jsonify, request, url_for
from quart_schema import (
    DataSource,
    document_request,
    document_response,
    tag,
    validate_request,
)
from quart_schema.pydantic import File

from gallery.infra.runtime import current_redis, current_runtime, current_storage, request_db
from gallery.models.comment import Comment
from gallery.models.user import Permission
from gallery.services import comments, feeds, images, social, users
from gallery.services.errors import InvalidInput
from gallery.web.api import bp
from gallery.web.api.schemas import (
    CommentList,
    CommentOut,
    Feed,
    ImageOut,
    UserOut,
    avatar_url,
    comment_out,
    image_out,
    iso_utc,
)
from gallery.web.conditional import conditional_json
from gallery.web.current_user import require_user, signed_in_user
from gallery.web.feed_pages import author_page_by_name, feed_json, latest_page
from gallery.web.image_views import record_image_view
from gallery.web.permissions import permission_required
from gallery.web.querystring import validate_query
from gallery.web.security import rate_limit

UPLOADS_PER_HOUR = 120
COMMENTS_PER_TEN_MINUTES = 60


@dataclass
class PageQuery:
    limit: int | None = None
    cursor: str | None = None


@dataclass
class NewComment:
    content: str


@dataclass
class NewImage:
    file: File
    description: str | None = None


@dataclass
class ImageChanges:
    comments_enabled: bool


def viewer_id() -> int | None:
    viewer = signed_in_user()
    return viewer.id if viewer else None


def feed_of(page: feeds.FeedPage) -> Feed:
    storage = current_storage()
    return Feed(items=[image_out(c, storage) for c in page.cards], next_cursor=page.next_cursor)


@bp.get("/feed")
@tag(["images"])
@validate_query(PageQuery)
@document_response(Feed)
async def feed(query_args: PageQuery) -> Response:
    """Everyone's images, newest first. Pass ``next_cursor`` back as ``cursor`` for more."""
    return await feed_json(*latest_page(query_args.limit, query_args.cursor))


@bp.get("/users/<username>")
@tag(["users"])
@document_response(UserOut)
async def user_profile(username: str) -> Response:
    """A user's public profile with follower counts and whether the viewer follows them."""

    async def build() -> UserOut:
        session = await request_db()
        found = await users.profile(session, username)
        counts = await social.follow_counts(session, found.user.id)
        return UserOut(
            id=found.user.id,
            username=found.user.username,
            avatar_url=avatar_url(found.user, current_storage()),
            created_at=iso_utc(found.user.created_at),
            image_count=found.image_count,
            follower_count=counts.followers,
            following_count=counts.following,
            following=await social.is_following(session, viewer_id(), found.user.id),
        )

    return await conditional_json(build)


@bp.get("/users/<username>/images")
@tag(["images", "users"])
@validate_query(PageQuery)
@document_response(Feed)
async def user_images(username: str, query_args: PageQuery) -> Response:
    """One user's images, newest first (cursor paging as ``/feed``)."""
    return await feed_json(*author_page_by_name(username, query_args.limit, query_args.cursor))


@bp.get("/images/<int:image_id>")
@tag(["images"])
@document_response(ImageOut)
async def image_detail(image_id: int) -> Response:
    """One image with its first two comments."""

    async def build() -> ImageOut:
        card = await feeds.image_card(await request_db(), image_id, viewer_id())
        return image_out(card, current_storage())

    await record_image_view(image_id)
    return await conditional_json(build)


@bp.post("/images")
@permission_required(Permission.UPLOAD)
@tag(["images"])
@document_request(NewImage, source=DataSource.FORM_MULTIPART)
@document_response(ImageOut, 201)
async def upload_image() -> tuple[Response, int, dict[str, str]]:
    """Upload one image (multipart ``file``, optional ``description``): 201 with the Image.

    415 if the file is not a JPEG, PNG, GIF or WebP; 422 if it is damaged or has
    too many pixels; 413 if the body is over the upload limit.
    """
    user = require_user()
    files = (await request.files).getlist("file")
    if len(files) != 1 or not files[0].filename:
        raise InvalidInput("Send exactly one image in the multipart field 'file'.", field="file")
    await rate_limit("uploads", f"upload:{user.id}", limit=UPLOADS_PER_HOUR, window_seconds=3600)
    description = (await request.form).get("description", "")
    runtime = current_runtime()
    image = await images.ingest(
        await request_db(),
        runtime.storage,
        current_redis(),
        author=user,
        data=files[0].read(),
        description=description,
    )
    card = (await feeds.cards_for(await request_db(), [image], user.id))[0]
    location = url_for("api.image_detail", image_id=image.id)
    return jsonify(asdict(image_out(card, runtime.storage))), 201, {"Location": location}


@bp.delete("/images/<int:image_id>")
@tag(["images"])
async def delete_image(image_id: int) -> Response:
    """Delete an image with its comments and files (owner or moderator): 204."""
    user = require_user()
    await images.delete_image(
        await request_db(), current_storage(), current_redis(), image_id=image_id, actor=user
    )
    return Response(b"", status=204)


@bp.patch("/images/<int:image_id>")
@tag(["images"])
@validate_request(ImageChanges)
@document_response(ImageOut)
async def update_image(image_id: int, data: ImageChanges) -> Response:
    """Turn new comments on an image on or off (owner or moderator): 200 with the Image.

    Comments already there stay; while off, posting one is refused with 403.
    """
    # Not permission_required: a locked owner may still close their photo to comments.
    user = require_user()
    session = await request_db()
    await images.set_comments_enabled(
        session, current_redis(), image_id=image_id, actor=user, enabled=data.comments_enabled
    )
    card = await feeds.image_card(session, image_id, user.id)
    return jsonify(asdict(image_out(card, current_storage())))


@bp.get("/images/<int:image_id>/comments")
@tag(["comments"])
@validate_query(PageQuery)
@document_response(CommentList)
async def list_comments(image_id: int, query_args: PageQuery) -> Response:
    """An image's comments, oldest first (cursor paging)."""

    async def build() -> CommentList:
        page = await comments.list_comments(
            await request_db(), image_id, limit=query_args.limit, cursor=query_args.cursor
        )
        storage = current_storage()
        return CommentList(
            items=[comment_out(c, storage) for c in page.comments], next_cursor=page.next_cursor
        )

    return await conditional_json(build)


@bp.post("/images/<int:image_id>/comments")
@permission_required(Permission.COMMENT)
@tag(["comments"])
@validate_request(NewComment)
@document_response(CommentOut, 201)
async def post_comment(image_id: int, data: NewComment) -> tuple[Response, int]:
    """Comment on an image (1–1000 characters): 201 with the Comment.

    403 while the image's owner (or a moderator) has turned its comments off.
    """
    comment = await create_comment(image_id, data.content)
    return jsonify(asdict(comment_out(comment, current_storage()))), 201


async def create_comment(image_id: int, content: str | None) -> Comment:
    """Shared by the API and the page's plain form: rate-limited, then the service."""
    user = require_user()
    await rate_limit(
        "comments", f"comment:{user.id}", limit=COMMENTS_PER_TEN_MINUTES, window_seconds=600
    )
    return await comments.add_comment(
        await request_db(), current_redis(), image_id=image_id, author=user, content=content
    )


@bp.delete("/comments/<int:comment_id>")
@tag(["comments"])
async def delete_comment(comment_id: int) -> Response:
    """Delete a comment (its author, the image's owner or a moderator): 204."""
    user = require_user()
    await comments.delete_comment(
        await request_db(), current_redis(), comment_id=comment_id, actor=user
    )
    return Response(b"", status=204)

"""Images, feeds and comments in the JSON API."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from pydantic import Field
from quart import Blueprint, Response, jsonify, request
from quart_schema import (
    DataSource,
    document_request,
    document_response,
    tag,
)
from quart_schema.pydantic import File

from gallery.models.comment import COMMENT_MAX_LENGTH
from gallery.models.image import (
    ALT_TEXT_MAX_LENGTH,
    CONTENT_WARNING_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    MAX_PHOTOS_PER_POST,
    PostVisibility,
)
from gallery.models.user import Permission
from gallery.services import comments, feeds, images, posts, privacy, social, users
from gallery.services.errors import InvalidInput
from gallery.web.actions import (
    chosen_photos,
    create_comment,
    create_post,
    created_post_response,
)
from gallery.web.body_limits import accepts_uploads
from gallery.web.conditional import conditional_json
from gallery.web.current_user import require_user, signed_in_user, viewer_id
from gallery.web.feed_pages import (
    author_page_by_name,
    author_page_in_full,
    author_shown_in_full,
    feed_json,
    latest_page,
)
from gallery.web.image_views import record_image_view
from gallery.web.json_bodies import text_bounds, validate_json
from gallery.web.json_routes import answers
from gallery.web.permissions import permission_required
from gallery.web.querystring import IdsQuery, PageQuery, validate_query
from gallery.web.rate_limits import rate_limit_exempt, rate_limited
from gallery.web.resources import resources
from gallery.web.routing import MAX_PATH_INTEGER
from gallery.web.shapes import (
    CommentList,
    CommentOut,
    Feed,
    ImageCountList,
    ImageCounts,
    ImageOut,
    UserOut,
    avatar_url,
    avatar_urls,
    comment_out,
    image_out,
    iso_utc,
)

bp = Blueprint("images", __name__)


@dataclass
class NewComment:
    content: Annotated[
        str,
        Field(
            json_schema_extra=text_bounds(
                COMMENT_MAX_LENGTH, f"The comment, 1–{COMMENT_MAX_LENGTH} characters."
            )
        ),
    ]


@dataclass
class NewImage:
    # For the document only: the view reads the form itself (1–10 files, each counted).
    file: Annotated[
        File,
        Field(
            description=f"A JPEG, PNG, GIF, WebP, HEIC or AVIF photo; repeat the field for up to "
            f"{MAX_PHOTOS_PER_POST} photos in one post, in the order they are shown."
        ),
    ]
    alt_text: Annotated[
        str,
        Field(
            max_length=ALT_TEXT_MAX_LENGTH,
            description="What the photo shows, for people who cannot see it; repeat the "
            "field once per photo, in the same order (optional).",
        ),
    ] = ""
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


@dataclass
class AltTextChange:
    id: Annotated[
        int, Field(strict=True, ge=1, le=MAX_PATH_INTEGER, description="One of the post photos.")
    ]
    alt_text: Annotated[str, Field(max_length=ALT_TEXT_MAX_LENGTH)]


@dataclass
class ImageChanges:
    """Each field is optional; the ones sent are changed. At least one."""

    # Strict: JSON true or false, as documented, not 0, 1 or "yes".
    comments_enabled: Annotated[
        bool | None, Field(strict=True, description="Owner or moderator.")
    ] = None
    description: Annotated[
        str | None,
        Field(
            max_length=DESCRIPTION_MAX_LENGTH,
            description='The caption (the author only); the post shows "edited".',
        ),
    ] = None
    alt_texts: Annotated[
        list[AltTextChange] | None,
        Field(max_length=MAX_PHOTOS_PER_POST, description="New alt texts (the author only)."),
    ] = None
    sensitive: Annotated[
        bool | None,
        Field(strict=True, description="Blurred behind a warning (author or moderator)."),
    ] = None
    content_warning: Annotated[
        str | None,
        Field(max_length=CONTENT_WARNING_MAX_LENGTH, description="The warning's words."),
    ] = None
    visibility: Annotated[
        PostVisibility | None,
        Field(description='Who sees it: "public" or "followers" (the author only).'),
    ] = None


@dataclass
class AltTextOut:
    photo_id: int
    alt_text: str


@dataclass
class VersionOut:
    description: str
    alt_texts: list[AltTextOut]
    valid_from: str
    replaced_at: str | None  # None: the current words
    editor: str | None


@dataclass
class VersionList:
    items: list[VersionOut]


@bp.get("/feed")
@tag(["images"])
@validate_query(PageQuery)
@document_response(Feed)
@answers(304)
async def feed(query_args: PageQuery) -> Response:
    """Everyone's images, newest first. Pass ``next_cursor`` back as ``cursor`` for more."""
    return await feed_json(*latest_page(query_args.limit, query_args.cursor))


@bp.get("/users/<username>")
@tag(["users"])
@document_response(UserOut)
@answers(304, 404)
async def user_profile(username: str) -> Response:
    """A user's public profile with follower counts and whether the viewer follows them."""

    async def build() -> UserOut:
        use = resources()
        session = use.db
        found = await users.profile(session, username, signed_in_user())
        counts = await social.follow_counts(session, found.user.id)
        return UserOut(
            id=found.user.id,
            username=found.user.username,
            avatar_url=avatar_url(found.user, use.storage),
            created_at=iso_utc(found.user.created_at),
            image_count=found.image_count,
            follower_count=counts.followers,
            following_count=counts.following,
            following=await social.is_following(session, viewer_id(), found.user.id),
            is_private=found.user.is_private,
            requested=found.user.is_private
            and await privacy.has_requested(session, viewer_id(), found.user.id),
            display_name=found.user.display_name,
            bio=found.user.bio,
            website=found.user.website,
            avatar_urls=avatar_urls(found.user, use.storage),
        )

    return await conditional_json(build)


@bp.get("/users/<username>/images")
@tag(["images", "users"])
@validate_query(PageQuery)
@document_response(Feed)
@answers(304, 404)
async def user_images(username: str, query_args: PageQuery) -> Response:
    """One user's images, newest first (cursor paging as ``/feed``): the public ones,
    and all of them for the user, their followers and moderators."""
    in_full = await author_shown_in_full(username)
    page = (
        author_page_in_full(in_full, query_args.limit, query_args.cursor)
        if in_full is not None
        else author_page_by_name(username, query_args.limit, query_args.cursor)
    )
    return await feed_json(*page, spare_hidden=False)


@bp.get("/images/counts")
@tag(["images"])
@validate_query(IdsQuery)
@document_response(ImageCountList)
async def image_counts(query_args: IdsQuery) -> Response:
    """The like and comment counts of up to 100 images (``?ids=1,2,3``), in one answer.

    Live pages ask this after a reconnect to catch up; ids of images that no
    longer exist are left out.
    """
    rows = await feeds.counts_of(resources().db, query_args.id_list, viewer_id())
    return jsonify(
        asdict(
            ImageCountList(
                items=[ImageCounts(id=i, like_count=lc, comment_count=cc) for i, lc, cc in rows]
            )
        )
    )


@bp.get("/images/<int:image_id>")
@tag(["images"])
@document_response(ImageOut)
@answers(304, 404)
async def image_detail(image_id: int) -> Response:
    """One image with its first two comments."""

    async def build() -> ImageOut:
        use = resources()
        viewer = signed_in_user()
        card = await feeds.image_card(use.db, image_id, viewer)
        out = image_out(card, use.storage)
        if images.may_change_image(viewer, card.image):
            out.source_url = card.image.source_url
        return out

    await record_image_view(image_id)
    return await conditional_json(build)


@bp.post("/images")
@accepts_uploads
@permission_required(Permission.UPLOAD)
@tag(["images"])
@document_request(NewImage, source=DataSource.FORM_MULTIPART)
@document_response(ImageOut, 201)
@answers(400, 413, 415, 422)
@rate_limited("uploads", counted_in_view=True)  # one per photo, once they are read
async def upload_image() -> tuple[Response, int, dict[str, str]]:
    """Post 1–10 photos (multipart ``file`` parts in order, an optional ``alt_text``
    for each in the same order, an optional ``description``): 201 with the post.

    415 if a file is not a JPEG, PNG, GIF, WebP, HEIC or AVIF; 422 if one is damaged or has
    too many pixels (the message names each such photo; nothing is posted);
    413 if the body is over the upload limit.
    """
    form = await request.form
    chosen = await chosen_photos()
    post = await create_post(chosen, form.get("description", ""), form.get("visibility"))
    return await created_post_response(post)


@bp.delete("/images/<int:image_id>")
@tag(["images"])
@answers(204, 401, 403, 404)
@rate_limit_exempt("the owner or a moderator, and each image can go only once")
async def delete_image(image_id: int) -> Response:
    """Delete an image with its comments and files (owner or moderator): 204."""
    use = resources()
    user = require_user()
    await images.delete_image(use.db, use.storage, use.redis, image_id=image_id, actor=user)
    return Response(b"", status=204)


@bp.patch("/images/<int:image_id>")
@tag(["images"])
@validate_json(ImageChanges)
@document_response(ImageOut)
@answers(400, 401, 403, 404)
@rate_limit_exempt("the owner's or a moderator's changes to one post; the same again is a no-op")
async def update_image(image_id: int, data: ImageChanges) -> Response:
    """Change a post: 200 with it.

    ``comments_enabled`` (owner or moderator; comments already there stay),
    ``description`` and ``alt_texts`` (the author; earlier words are kept, see
    ``/versions``), ``sensitive`` and ``content_warning`` (author or moderator),
    ``visibility`` (the author). 404 for a post you may not see.
    """
    use = resources()
    # Not permission_required: a locked owner may still close their post to
    # comments or put it behind a warning; the services decide who may.
    user = require_user()
    session = use.db
    changes = posts.PostChanges(
        description=data.description,
        alt_texts={change.id: change.alt_text for change in data.alt_texts}
        if data.alt_texts is not None
        else None,
        sensitive=data.sensitive,
        content_warning=data.content_warning,
        visibility=data.visibility,
    )
    edits = changes.changes_words or changes.changes_warning or data.visibility is not None
    if data.comments_enabled is None and not edits:
        raise InvalidInput("Send at least one change.")
    if edits:
        await posts.edit_post(session, use.redis, image_id=image_id, actor=user, changes=changes)
    if data.comments_enabled is not None:
        await images.set_comments_enabled(
            session, use.redis, image_id=image_id, actor=user, enabled=data.comments_enabled
        )
    card = await feeds.image_card(session, image_id, user)
    return jsonify(asdict(image_out(card, use.storage)))


@bp.get("/images/<int:image_id>/versions")
@tag(["images"])
@document_response(VersionList)
@answers(401, 404)
async def image_versions(image_id: int) -> Response:
    """A post's caption and alt texts now and before each edit, newest first.

    Its author and moderators only (404 for anyone else).
    """
    use = resources()
    user = require_user()
    history = await posts.version_history(use.db, image_id=image_id, viewer=user)
    return jsonify(asdict(VersionList(items=[version_out(v) for v in history])))


def version_out(version: posts.Version) -> VersionOut:
    return VersionOut(
        description=version.description,
        alt_texts=[AltTextOut(a.photo_id, a.alt_text) for a in version.alt_texts],
        valid_from=iso_utc(version.valid_from),
        replaced_at=iso_utc(version.replaced_at) if version.replaced_at else None,
        editor=version.editor,
    )


@bp.get("/images/<int:image_id>/comments")
@tag(["comments"])
@validate_query(PageQuery)
@document_response(CommentList)
@answers(304, 404)
async def list_comments(image_id: int, query_args: PageQuery) -> Response:
    """An image's comments, oldest first (cursor paging)."""

    async def build() -> CommentList:
        use = resources()
        page = await comments.list_comments(
            use.db,
            image_id,
            viewer=signed_in_user(),
            limit=query_args.limit,
            cursor=query_args.cursor,
        )
        storage = use.storage
        return CommentList(
            items=[comment_out(c, storage) for c in page.comments], next_cursor=page.next_cursor
        )

    return await conditional_json(build)


@bp.post("/images/<int:image_id>/comments")
@permission_required(Permission.COMMENT)
@tag(["comments"])
@validate_json(NewComment)
@document_response(CommentOut, 201)
@answers(403, 404)
@rate_limited("comments")
async def post_comment(image_id: int, data: NewComment) -> tuple[Response, int]:
    """Comment on an image (1–1000 characters): 201 with the Comment.

    403 while the image's owner (or a moderator) has turned its comments off.
    """
    comment = await create_comment(image_id, data.content)
    return jsonify(asdict(comment_out(comment, resources().storage))), 201


@bp.delete("/comments/<int:comment_id>")
@tag(["comments"])
@answers(204, 401, 403, 404)
@rate_limit_exempt("its author, the image's owner or a moderator; each comment goes only once")
async def delete_comment(comment_id: int) -> Response:
    """Delete a comment (its author, the image's owner or a moderator): 204."""
    use = resources()
    user = require_user()
    await comments.delete_comment(use.db, use.redis, comment_id=comment_id, actor=user)
    return Response(b"", status=204)

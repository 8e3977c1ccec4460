"""What a page's form and its JSON twin both do: the steps before and around the service.

The pages (plain HTML forms) and the JSON API are siblings; neither imports
the other. Where both offer the same action (comment, report, search), the
steps they share live here, so both answer the same refusals. Their rate
limits are entries of ``web/rate_limits.py`` declared on each route, so a
page and its twin spend one budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from quart import Response, jsonify, request, url_for

from gallery import imaging
from gallery.models.comment import Comment
from gallery.models.image import Image
from gallery.models.moderation import Report
from gallery.services import comments, feeds, images, privacy, profiles, reports, search
from gallery.services.errors import InvalidInput
from gallery.services.reports import ReportTarget
from gallery.web.current_user import require_user, viewer_id
from gallery.web.rate_limits import count_attempt
from gallery.web.resources import resources
from gallery.web.shapes import ImageOut, SearchResults, TagResult, UserResult, avatar_url, image_out


async def create_comment(image_id: int, content: str | None) -> Comment:
    """Shared by the API and the page's plain form (their routes count ``comments``)."""
    use = resources()
    user = require_user()
    return await comments.add_comment(
        use.db, use.redis, image_id=image_id, author=user, content=content, storage=use.storage
    )


@dataclass(frozen=True)
class ChosenPhotos:
    """A post's photos as the multipart body sent them, with the names shown back on errors."""

    filenames: list[str]
    uploads: list[images.PhotoUpload]


async def chosen_photos() -> ChosenPhotos:
    """The ``file`` parts in order, the n-th ``alt_text`` field going with the n-th file.

    Alt texts are optional (fewer fields than files is fine); more alt texts
    than files is a client's mistake and is refused rather than guessed at.
    """
    files = [part for part in (await request.files).getlist("file") if part.filename]
    alt_texts = (await request.form).getlist("alt_text")
    if len(alt_texts) > len(files):
        raise InvalidInput("There are more alt texts than photos.", field="alt_text")
    alt_texts += [""] * (len(files) - len(alt_texts))
    return ChosenPhotos(
        # Shown back to the user only (escaped); never used as a file name.
        filenames=[(part.filename or "file")[:120] for part in files],
        uploads=[
            images.PhotoUpload(part.read(), alt_text)
            for part, alt_text in zip(files, alt_texts, strict=True)
        ],
    )


async def create_post(
    chosen: ChosenPhotos, description: str | None, visibility: str | None = None
) -> Image:
    """Shared by the upload page and ``POST /api/v1/images`` (their routes count ``uploads``).

    One upload counts per photo: a post of ten spends ten of the budget.
    """
    use = resources()
    user = require_user()
    images.check_can_upload(user)
    images.check_photo_count(len(chosen.uploads))
    audience = privacy.check_visibility(visibility)
    for _ in chosen.uploads:
        await count_attempt("uploads")
    return await images.create_post(
        use.db,
        use.runtime.storage,
        use.redis,
        author=user,
        photos=chosen.uploads,
        description=description,
        visibility=audience,
    )


async def created_post_response(post: Image) -> tuple[Response, int, dict[str, str]]:
    """The 201 of both ways to post over the API (``POST /images`` and ``POST /posts``):
    the post as its author's feed shows it, and where it lives."""
    use = resources()
    card = (await feeds.cards_for(use.db, [post], require_user().id))[0]
    location = url_for("api.images.image_detail", image_id=post.id)
    return jsonify(asdict(image_out(card, use.storage))), 201, {"Location": location}


def chosen_crop(form: Mapping[str, str]) -> imaging.SquareCrop | None:
    """The square the person chose for their avatar (``crop_left``, ``crop_top``,
    ``crop_side`` in the photo's upright pixels); None, the centre, when none was sent."""
    values = [(form.get(f"crop_{name}") or "").strip() for name in ("left", "top", "side")]
    if not any(values):
        return None
    if not all(value.isdigit() and len(value) <= 6 for value in values):
        raise InvalidInput(
            "The chosen square needs a left, top and side of whole pixels.", field="crop"
        )
    left, top, side = (int(value) for value in values)
    return imaging.SquareCrop(left=left, top=top, side=side)


async def change_avatar() -> None:
    """Shared by the settings page and ``PUT /api/v1/me/avatar`` (both count ``uploads``)."""
    use = resources()
    user = require_user()
    files = [part for part in (await request.files).getlist("file") if part.filename]
    if len(files) != 1:
        raise InvalidInput("Choose one photo for your avatar.", field="file")
    crop = chosen_crop(await request.form)
    await count_attempt("uploads")
    await profiles.set_avatar(use.db, use.storage, use.redis, user, files[0].read(), crop)


async def file_report(kind: ReportTarget, target_id: int, reason: str | None) -> Report:
    """Shared by the API and the report pages (their routes count ``reports``)."""
    user = require_user()
    session = resources().db
    if kind is ReportTarget.IMAGE:
        return await reports.report_image(session, reporter=user, image_id=target_id, reason=reason)
    return await reports.report_comment(session, reporter=user, comment_id=target_id, reason=reason)


async def run_search(
    query: str | None, kind: str | None, *, limit: int | None, cursor: str | None
) -> SearchResults:
    """Shared by the API and the search page: ``searches`` counted, then the service.

    Counted here, not before the view: a refusal costs neither a count nor a
    query, and the page's empty search form costs nothing.
    """
    use = resources()
    search_type = search.search_type(kind)
    search.clean_query(query)
    await count_attempt("searches")
    session = use.db
    storage = use.storage
    items: list[ImageOut | UserResult | TagResult]
    if search_type is search.SearchType.USERS:
        people = await search.search_users(
            session, query, viewer_id=viewer_id(), limit=limit, cursor=cursor
        )
        items = [
            UserResult(id=u.id, username=u.username, avatar_url=avatar_url(u, storage))
            for u in people.users
        ]
        return SearchResults(items=items, next_cursor=people.next_cursor)
    if search_type is search.SearchType.TAGS:
        found = await search.search_tags(session, query, limit=limit, cursor=cursor)
        items = [
            TagResult(
                name=t.name,
                image_count=t.image_count,
                url=url_for("discover.tag_page", name=t.name),
            )
            for t in found.tags
        ]
        return SearchResults(items=items, next_cursor=found.next_cursor)
    page = await search.search_images(
        session, query, viewer_id=viewer_id(), limit=limit, cursor=cursor
    )
    items = [image_out(card, storage) for card in page.cards]
    return SearchResults(items=items, next_cursor=page.next_cursor)

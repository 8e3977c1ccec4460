"""The report forms: tell the moderators about an image or a comment.

Plain forms that work without JavaScript (the JSON API files the same reports
for scripts). Suggested reasons are radio buttons named ``preset``: the
server puts the chosen one in front of the reporter's own words, so the page
needs no script to fill the text in. Signing in from here comes back here:
the sign-in page's ``next`` is this GET page.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from quart import Blueprint, flash, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from gallery.models.moderation import REPORT_REASON_MAX_LENGTH
from gallery.services import comments, images, reports, visibility
from gallery.services.errors import Conflict, InvalidInput
from gallery.services.reports import NOUNS, ReportTarget
from gallery.web.actions import file_report
from gallery.web.current_user import require_user, signed_in_user
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import RateLimited, count_attempt, rate_limited
from gallery.web.resources import resources
from gallery.web.shapes import Author, author_out, cover_thumb_url

bp = Blueprint("reports", __name__)

PRESET_REASONS = (
    "Spam or advertising",
    "Harassment or hate",
    "Nudity or sexual content",
    "Violence or gore",
    "Someone else's work",
)
# The text box leaves room for "<preset>: " in front of it, so whatever the
# reporter may type fits the service's limit once a preset is added.
DETAILS_MAX_LENGTH = REPORT_REASON_MAX_LENGTH - max(len(p) for p in PRESET_REASONS) - 2

THANKS = "Thanks for the report: a moderator will look at it."


@dataclass
class ReportSubject:
    """What the form is about, as the page shows it."""

    kind: str  # "image" or "comment"
    noun: str  # "photo" or "comment"
    target_id: int
    author: Author
    back_url: str  # the image page (at the comment)
    thumb_url: str | None = None  # an image's
    content: str | None = None  # a comment's


def compose_reason(preset: str | None, details: str | None) -> str:
    """The reason as stored: the chosen suggestion, the reporter's words, or both."""
    chosen = (preset or "").strip()
    words = (details or "").strip()
    if chosen and chosen not in PRESET_REASONS:
        raise InvalidInput("Choose one of the listed reasons, or write your own.", field="reason")
    if chosen and words:
        return f"{chosen}: {words}"
    return chosen or words  # both empty: the service says what is missing


async def image_subject(image_id: int) -> ReportSubject:
    use = resources()
    image = await images.get_image(use.db, image_id)
    await visibility.check_post_visible(use.db, signed_in_user(), image.author_id, image.is_public)
    storage = use.storage
    return ReportSubject(
        kind=ReportTarget.IMAGE.value,
        noun=NOUNS[ReportTarget.IMAGE],
        target_id=image.id,
        author=author_out(image.author, storage),
        back_url=url_for("images.detail", image_id=image.id),
        thumb_url=cover_thumb_url(storage, image),
    )


async def comment_subject(comment_id: int) -> ReportSubject:
    use = resources()
    comment = await comments.get_comment(use.db, comment_id)
    post = await images.get_image(use.db, comment.image_id)
    viewer = signed_in_user()
    # The post must be visible to the reporter, and its commenter not behind a block.
    await visibility.check_post_visible(
        use.db, viewer, post.author_id, post.is_public, reports.NO_COMMENT_MESSAGE
    )
    await visibility.check_not_blocked(
        use.db, viewer, comment.author_id, reports.NO_COMMENT_MESSAGE
    )
    return ReportSubject(
        kind=ReportTarget.COMMENT.value,
        noun=NOUNS[ReportTarget.COMMENT],
        target_id=comment.id,
        author=author_out(comment.author, use.storage),
        back_url=url_for("images.detail", image_id=comment.image_id) + f"#comment-{comment.id}",
        content=comment.content,
    )


# Counted in the view: a refusal past the limit is shown on the form, text kept.
@bp.route("/images/<int:image_id>/report", methods=["GET", "POST"])
@permission_required()
@rate_limited("reports", counted_in_view=True)
async def report_image_page(image_id: int) -> ResponseReturnValue:
    return await report_page(await image_subject(image_id))


@bp.route("/comments/<int:comment_id>/report", methods=["GET", "POST"])
@permission_required()
@rate_limited("reports", counted_in_view=True)
async def report_comment_page(comment_id: int) -> ResponseReturnValue:
    return await report_page(await comment_subject(comment_id))


async def report_page(subject: ReportSubject) -> ResponseReturnValue:
    """GET: the form. POST: file the report and go back to the image, or show why not."""
    if request.method == "GET":
        return await render_form(subject)
    form = await request.form
    preset = form.get("preset", "")
    details = form.get("reason", "")
    try:
        reason = compose_reason(preset, details)
        await count_attempt("reports")
        await file_report(ReportTarget(subject.kind), subject.target_id, reason)
    except InvalidInput as error:
        return await render_form(subject, preset=preset, details=details, error=error.message)
    except RateLimited as error:
        return await render_form(
            subject, preset=preset, details=details, error=str(error.description), status=429
        )
    except Conflict as error:
        # Nothing to fix in the form: the earlier report is still waiting.
        await flash(error.message, "info")
        return redirect(subject.back_url, 303)
    await flash(THANKS, "success")
    return redirect(subject.back_url, 303)


async def render_form(
    subject: ReportSubject,
    *,
    preset: str = "",
    details: str = "",
    error: str | None = None,
    status: int | None = None,
) -> ResponseReturnValue:
    body = await render_template(
        "reports/report.html",
        subject=asdict(subject),
        own=subject.author.id == require_user().id,
        presets=PRESET_REASONS,
        preset=preset,
        details=details,
        error=error,
        details_max_length=DETAILS_MAX_LENGTH,
    )
    return body, status or (400 if error else 200)

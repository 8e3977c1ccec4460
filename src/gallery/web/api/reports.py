"""Reports on images and comments in the JSON API (the moderators' queue is a page)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from pydantic import Field
from quart import Blueprint, Response, jsonify
from quart_schema import document_response, tag

from gallery.models.moderation import REPORT_REASON_MAX_LENGTH
from gallery.services.reports import ReportTarget
from gallery.web.actions import file_report
from gallery.web.json_bodies import text_bounds, validate_json
from gallery.web.json_routes import answers
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import rate_limited
from gallery.web.shapes import ReportOut, report_out

bp = Blueprint("reports", __name__)


@dataclass
class NewReport:
    reason: Annotated[
        str,
        Field(
            json_schema_extra=text_bounds(
                REPORT_REASON_MAX_LENGTH,
                f"What is wrong with it, 1–{REPORT_REASON_MAX_LENGTH} characters.",
            )
        ),
    ]


@bp.post("/images/<int:image_id>/report")
@permission_required()
@tag(["reports"])
@validate_json(NewReport)
@document_response(ReportOut, 201)
@answers(404, 409)
@rate_limited("reports")
async def report_image(image_id: int, data: NewReport) -> tuple[Response, int]:
    """Report an image to the moderators with a reason (1–500 characters): 201 with the Report.

    400 for your own image, 409 while your earlier report on it is still open.
    """
    report = await file_report(ReportTarget.IMAGE, image_id, data.reason)
    return jsonify(asdict(report_out(report))), 201


@bp.post("/comments/<int:comment_id>/report")
@permission_required()
@tag(["reports"])
@validate_json(NewReport)
@document_response(ReportOut, 201)
@answers(404, 409)
@rate_limited("reports")
async def report_comment(comment_id: int, data: NewReport) -> tuple[Response, int]:
    """Report a comment to the moderators with a reason (1–500 characters): 201 with the Report.

    400 for your own comment, 409 while your earlier report on it is still open.
    """
    report = await file_report(ReportTarget.COMMENT, comment_id, data.reason)
    return jsonify(asdict(report_out(report))), 201

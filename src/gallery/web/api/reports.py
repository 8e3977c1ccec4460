"""Reports on images and comments in the JSON API (the moderators' queue is a page)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from quart import Response, jsonify
from quart_schema import document_response, tag, validate_request

from gallery.infra.runtime import request_db
from gallery.models.moderation import Report
from gallery.services import reports
from gallery.services.reports import ReportTarget
from gallery.web.api import bp
from gallery.web.api.schemas import ReportOut, report_out
from gallery.web.current_user import require_user
from gallery.web.permissions import permission_required
from gallery.web.security import rate_limit

# Generous for someone cleaning up after a spammer, tight enough that nobody
# buries the moderators' queue.
REPORTS_PER_HOUR = 20


@dataclass
class NewReport:
    reason: str


@bp.post("/images/<int:image_id>/report")
@permission_required()
@tag(["reports"])
@validate_request(NewReport)
@document_response(ReportOut, 201)
async def report_image(image_id: int, data: NewReport) -> tuple[Response, int]:
    """Report an image to the moderators with a reason (1–500 characters): 201 with the Report.

    400 for your own image, 409 while your earlier report on it is still open.
    """
    report = await file_report(ReportTarget.IMAGE, image_id, data.reason)
    return jsonify(asdict(report_out(report))), 201


@bp.post("/comments/<int:comment_id>/report")
@permission_required()
@tag(["reports"])
@validate_request(NewReport)
@document_response(ReportOut, 201)
async def report_comment(comment_id: int, data: NewReport) -> tuple[Response, int]:
    """Report a comment to the moderators with a reason (1–500 characters): 201 with the Report.

    400 for your own comment, 409 while your earlier report on it is still open.
    """
    report = await file_report(ReportTarget.COMMENT, comment_id, data.reason)
    return jsonify(asdict(report_out(report))), 201


async def file_report(kind: ReportTarget, target_id: int, reason: str | None) -> Report:
    """Shared by the API and the report pages: rate-limited, then the service."""
    user = require_user()
    await rate_limit("reports", f"report:{user.id}", limit=REPORTS_PER_HOUR, window_seconds=3600)
    session = await request_db()
    if kind is ReportTarget.IMAGE:
        return await reports.report_image(session, reporter=user, image_id=target_id, reason=reason)
    return await reports.report_comment(session, reporter=user, comment_id=target_id, reason=reason)

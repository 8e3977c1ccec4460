"""Errors services raise for the web layer (or the CLI) to report.

Each carries the HTTP status that fits it, so one error handler can answer
JSON routes and pages alike; services themselves know nothing of HTTP.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service refuses; ``message`` is written for the user."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ServiceError):
    status = 400


class PermissionDenied(ServiceError):
    status = 403


class NotFoundError(ServiceError):
    status = 404


class Rejected(ServiceError):
    """Input that is well-formed but not acceptable, with its own status (413, 415, 422)."""

    def __init__(self, message: str, *, status: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.status = status


class Conflict(ServiceError):
    """The request clashes with what is already there (a second open report, say)."""

    status = 409


class TooSoon(ServiceError):
    """Allowed again later (one archive a day, say): 429, with how many seconds to wait."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

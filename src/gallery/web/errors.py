"""Error responses: JSON on JSON routes, a friendly page elsewhere."""

from __future__ import annotations

import logging

from pydantic import ValidationError as PydanticValidationError
from quart import Quart, Response, flash, jsonify, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue
from quart_auth import Unauthorized
from quart_schema import RequestSchemaValidationError
from quart_schema.validation import QuerystringValidationError, RequestHeadersValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from gallery.infra.runtime import outage, pool_wait_timed_out
from gallery.services.errors import ServiceError, TooSoon
from gallery.services.permissions import AccountLocked
from gallery.web.json_routes import JSON_ROUTE_PREFIXES
from gallery.web.rate_limits import RateLimited
from gallery.web.security import CSRFError, return_path

log = logging.getLogger(__name__)

# Paths whose clients are scripts: their errors are JSON and never redirect.
JSON_PATH_PREFIXES = (*JSON_ROUTE_PREFIXES, "/openapi.json")

# When an overloaded process (503) asks clients to come back: soon, since a
# burst passes, but not at once.
OVERLOAD_RETRY_AFTER_SECONDS = 1
OVERLOAD_MESSAGE = "Gallery is very busy right now. Please try again in a moment."
# When Redis or the database cannot be reached: they come back by themselves
# (a restart takes seconds), and the process reconnects without help.
OUTAGE_RETRY_AFTER_SECONDS = 5
OUTAGE_MESSAGE = (
    "Part of Gallery is unavailable for a moment. Nothing you sent before was lost; "
    "please try again in a few seconds."
)

ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}

TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    413: "Too large",
    415: "Not an image we accept",
    422: "Cannot use this file",
    429: "Slow down",
    500: "Something went wrong",
    503: "Unavailable for a moment",
}


def wants_json() -> bool:
    if request.path.startswith(JSON_PATH_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def json_error(status: int, message: str, code: str | None = None) -> Response:
    response = jsonify(
        {"error": {"code": code or ERROR_CODES.get(status, "ERROR"), "message": message}}
    )
    response.status_code = status
    return response


async def render_error(status: int, message: str, title: str | None = None) -> tuple[str, int]:
    title = title or TITLES.get(status, "Error")
    return await render_template(
        "errors/error.html", status=status, title=title, message=message
    ), status


async def handle_http_exception(error: HTTPException) -> Response | tuple[str, int]:
    original = getattr(error, "original_exception", None)
    if original is not None and pool_wait_timed_out(original):
        # Raised after the view (saving the session), where Quart hands only its 500 on.
        return await overloaded(original)
    if original is not None and outage(original):
        return await unavailable(original)
    status = error.code or 500
    message = error.description or TITLES.get(status, "Error")
    if wants_json():
        code = "CSRF_FAILED" if isinstance(error, CSRFError) else None
        response = json_error(status, message, code)
    else:
        body, status = await render_error(status, message)
        response = Response(body, status=status, mimetype="text/html")
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    if status == 503:
        # Every 503 here stands for a moment's outage (the session store, say).
        response.headers.setdefault("Retry-After", str(OUTAGE_RETRY_AFTER_SECONDS))
        response.headers["Cache-Control"] = "no-store"
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


async def handle_unauthorized(_error: Unauthorized) -> ResponseReturnValue:
    """401 for scripts; for browsers the sign-in page, which then returns them.

    A GET returns to itself. A form post (a like, a follow, a report) returns
    to the page the form was on, never to its own URL, which only takes POST.
    """
    if wants_json():
        return json_error(401, "You need to sign in for this.")
    if request.method == "GET":
        target = request.full_path.rstrip("?")
    else:
        target = await return_path()
    return redirect(url_for("auth.login", next=target))


async def handle_schema_error(error: RequestSchemaValidationError) -> Response:
    """400 naming the part of the request that is wrong, and each field's problem.

    quart-schema raises the same family of errors for the query string, the
    headers and the body; a client told "the body" about a bad ``?limit=``
    looks in the wrong place. The values sent are not echoed back.
    """
    if isinstance(error, QuerystringValidationError):
        part = "The query string"
    elif isinstance(error, RequestHeadersValidationError):
        part = "The request headers"
    else:
        part = "The request body"
    cause = error.validation_error
    if isinstance(cause, PydanticValidationError):
        problems = [
            f"{'.'.join(str(step) for step in problem['loc'])}: {problem['msg']}"
            if problem["loc"]
            else problem["msg"]
            for problem in cause.errors(include_url=False, include_input=False)
        ]
        details = "; ".join(problems)
    elif isinstance(cause, UnicodeDecodeError):
        details = "it is not UTF-8 text"
    else:
        details = str(cause)
    return json_error(400, f"{part} is not valid: {details}.")


async def handle_service_error(error: ServiceError) -> ResponseReturnValue:
    """A refusal from a service: its message and status, as JSON or as a page.

    A locked account on a page is not shown an error page for trying: the
    message is flashed on the page it came from.
    """
    if isinstance(error, AccountLocked) and not wants_json():
        await flash(error.message, "warning")
        return redirect(await return_path(), 303)
    if wants_json():
        response = json_error(error.status, error.message)
    else:
        body, status = await render_error(error.status, error.message)
        response = Response(body, status=status, mimetype="text/html")
    if isinstance(error, TooSoon):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


async def overloaded(error: BaseException) -> Response:
    """503 with Retry-After: no free database or Redis connection came in time.

    The process is saturated, not broken, so one line in the log, not a
    traceback for every request that could not be served.
    """
    log.warning("503 for %s %s: %s", request.method, request.path, error)
    if wants_json():
        response = json_error(503, OVERLOAD_MESSAGE, "OVERLOADED")
    else:
        body, status = await render_error(503, OVERLOAD_MESSAGE, "Too busy")
        response = Response(body, status=status, mimetype="text/html")
    response.headers["Retry-After"] = str(OVERLOAD_RETRY_AFTER_SECONDS)
    return response


async def unavailable(error: BaseException) -> Response | tuple[str, int]:
    """503 with Retry-After: Redis or the database cannot be reached right now.

    One line in the log per refused request, no traceback: the outage itself
    is logged once, loudly, where it is detected (``infra.redis.Circuit``, the
    database driver's own error).
    """
    log.warning(
        "503 for %s %s: %s is unavailable (%s)", request.method, request.path, outage(error), error
    )
    # Answered as every 503 is (Retry-After, no-store: see handle_http_exception).
    return await handle_http_exception(ServiceUnavailable(OUTAGE_MESSAGE))


async def handle_connection_trouble(error: Exception) -> Response | tuple[str, int]:
    """A pool wait that timed out is overload; a server that cannot be reached is an
    outage (503 both); anything else (a bad command, a bad statement) is a bug."""
    if pool_wait_timed_out(error):
        return await overloaded(error)
    if outage(error):
        return await unavailable(error)
    return await handle_unexpected(error)


async def handle_unexpected(error: Exception) -> Response | tuple[str, int]:
    log.exception("Unhandled error on %s %s", request.method, request.path, exc_info=error)
    return await handle_http_exception(
        InternalServerError(
            "An unexpected error happened on our side. It has been logged; please try again."
        )
    )


class OverloadTracebackFilter(logging.Filter):
    """Drops Quart's own tracebacks of pool waits that timed out.

    An error raised after the view (saving the session to Redis) reaches the
    handlers only through Quart's 500 path, which logs it with a traceback
    first; ``overloaded`` says it in one line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not (pool_wait_timed_out(error) or outage(error))


# One instance: every app shares the "gallery" logger, and a filter is added once.
OVERLOAD_TRACEBACK_FILTER = OverloadTracebackFilter()


def register_error_handlers(app: Quart) -> None:
    app.logger.addFilter(OVERLOAD_TRACEBACK_FILTER)
    app.register_error_handler(Unauthorized, handle_unauthorized)
    app.register_error_handler(RequestSchemaValidationError, handle_schema_error)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(PoolTimeoutError, handle_connection_trouble)
    app.register_error_handler(RedisConnectionError, handle_connection_trouble)
    app.register_error_handler(RedisTimeoutError, handle_connection_trouble)
    app.register_error_handler(DBAPIError, handle_connection_trouble)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)

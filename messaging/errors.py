"""problem+json (RFC 9457) for every error path, including a database that is gone."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES

from messaging.conflicts import WriteConflictError, is_write_conflict
from messaging.create import IdempotencyKeyConflictError, IdempotencyKeyReusedError
from messaging.metrics import service_metrics
from messaging.mysql_errors import (
    CLIENT_ERROR_CODES,
    MYSQL_ACCESS_DENIED,
    MYSQL_ACCESS_DENIED_NO_PASSWORD,
    MYSQL_DATABASE_ACCESS_DENIED,
    MYSQL_UNKNOWN_DATABASE,
    SERVER_UNAVAILABLE_CODES,
    mysql_error_code,
)
from messaging.protocol import (
    BODY_TOO_LARGE_DETAIL,
    DATABASE_FAILED_DETAIL,
    DATABASE_RETRY_AFTER_SECONDS,
    DATABASE_UNAVAILABLE_DETAIL,
    IDEMPOTENCY_CONFLICT_DETAIL,
    IDEMPOTENCY_KEY_HEADER,
    INVALID_REQUEST_DETAIL,
    PROBLEM_MIMETYPE,
    RETRY_AFTER_HEADER,
    UNEXPECTED_DETAIL,
    WRITE_CONFLICT_DETAIL,
    WRITE_CONFLICT_RETRY_AFTER_SECONDS,
)
from messaging.request_log import current_request_id

# Connection refused, lost or timed out, pool exhausted: all mean "try again soon".
DATABASE_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)

log = logging.getLogger(__name__)

# MySQL/MariaDB client and server error codes that say why the database refused: these
# are fixed by configuration, not by waiting, so they are logged as errors with their name.
ACCESS_DENIED_CODES = {
    MYSQL_DATABASE_ACCESS_DENIED: (
        "access denied to the database (check DB_NAME and the user's grants)"
    ),
    MYSQL_ACCESS_DENIED: "access denied (check DB_USER and DB_PASSWORD)",
    MYSQL_UNKNOWN_DATABASE: "unknown database (check DB_NAME)",
    MYSQL_ACCESS_DENIED_NO_PASSWORD: "access denied (check DB_USER and DB_PASSWORD)",
}


def describe_database_error(error: BaseException) -> tuple[int, str]:
    """A log level and a line for a database error: the driver's class and code, and what a
    configuration error means. Never the message text, which may quote SQL parameters."""
    cause = getattr(error, "orig", None) or error
    code = mysql_error_code(error)
    described = f"{type(cause).__name__} ({code})" if code is not None else type(cause).__name__
    if isinstance(cause, TimeoutError):
        described = f"{described}: {cause}"  # the service's own words, no SQL in them
    if code in ACCESS_DENIED_CODES:
        return logging.ERROR, f"{described}: {ACCESS_DENIED_CODES[code]}"
    return logging.WARNING, described


def problem(
    status: int,
    detail: str,
    *,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> Response:
    """A problem+json response; ``members`` become extra members of the body."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(members)
    response = current_app.json.response(body)
    response.status_code = status
    response.content_type = PROBLEM_MIMETYPE
    response.headers.update(headers or {})
    return response


def field_errors(messages: dict[str, Any]) -> dict[str, Any]:
    """Validation messages keyed by field, whatever part of the request held it.

    The parser reports ``{"json": {"field": [...]}}``; clients care about the
    field. Errors about the body as a whole are reported under ``body``.
    """
    errors: dict[str, Any] = {}
    for location, fields in messages.items():
        if not isinstance(fields, dict):
            errors[location] = fields
            continue
        for name, field_messages in fields.items():
            key = "body" if name == "_schema" and location == "json" else name
            errors[key] = field_messages
    return errors


def handle_http_exception(error: HTTPException) -> Response:
    if isinstance(error, InternalServerError):
        # Flask's stand-in for an error raised outside a view (an error handler of its own,
        # for one): answered like any unexpected failure, with its request id.
        return handle_unexpected(error.original_exception or error)
    data = getattr(error, "data", None) or {}
    status = error.code or 500
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    if "messages" in data:
        return problem(
            status,
            data.get("message") or INVALID_REQUEST_DETAIL,
            errors=field_errors(data["messages"]),
            headers=headers,
        )
    return problem(status, data.get("message") or error.description or "", headers=headers)


def report_database_unavailable(error: BaseException, context: str) -> None:
    """Log (class and code of the driver's error only) and count an unreachable database."""
    level, described = describe_database_error(error)
    log.log(level, "%s: database unavailable: %s", context, described)
    service_metrics().database_errors.inc()


def means_unavailable(error: Exception) -> bool:
    """Whether a database error says the server cannot be reached or cannot serve now."""
    if not isinstance(error, sa_exc.OperationalError):
        return True
    code = mysql_error_code(error)
    return code is None or code in SERVER_UNAVAILABLE_CODES or code in CLIENT_ERROR_CODES


def handle_database_unavailable(error: Exception) -> Response:
    if is_write_conflict(error):
        return handle_write_conflict(error)
    retry_after = {RETRY_AFTER_HEADER: str(DATABASE_RETRY_AFTER_SECONDS)}
    if not means_unavailable(error):
        cause = getattr(error, "orig", None) or error
        log.error("database error: %s %s", type(cause).__name__, cause.args[:1])
        service_metrics().database_errors.inc()
        return problem(503, DATABASE_FAILED_DETAIL, headers=retry_after)
    report_database_unavailable(error, "request")
    return problem(503, DATABASE_UNAVAILABLE_DETAIL, headers=retry_after)


def handle_write_conflict(error: Exception) -> Response:
    """409: the write lost to concurrent ones after its retries, or waited too long for a lock."""
    cause = getattr(error, "orig", None) or error.__cause__ or error
    log.warning("write conflict: %s %s", type(cause).__name__, getattr(cause, "args", ())[:1])
    return problem(
        409,
        WRITE_CONFLICT_DETAIL,
        headers={RETRY_AFTER_HEADER: str(WRITE_CONFLICT_RETRY_AFTER_SECONDS)},
    )


def handle_idempotency_key_reused(error: IdempotencyKeyReusedError) -> Response:
    return problem(
        422,
        "This Idempotency-Key was used with a different request body.",
        errors={IDEMPOTENCY_KEY_HEADER: ["Already used with a different body."]},
    )


def handle_idempotency_key_conflict(error: IdempotencyKeyConflictError) -> Response:
    return problem(409, IDEMPOTENCY_CONFLICT_DETAIL)


def handle_body_too_large(error: RequestEntityTooLarge) -> Response:
    """413 that names the limit, so a client knows how much it may send."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return problem(413, BODY_TOO_LARGE_DETAIL.format(limit=limit))


def handle_unexpected(error: BaseException) -> Response:
    log.error("unhandled error", exc_info=error)
    request_id = current_request_id()
    return problem(
        500,
        UNEXPECTED_DETAIL.format(request_id=request_id),
        request_id=request_id,
    )


def register_error_handlers(app: Flask) -> None:
    """Replace every default error page with problem+json (after the API's own handler)."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(RequestEntityTooLarge, handle_body_too_large)
    app.register_error_handler(IdempotencyKeyReusedError, handle_idempotency_key_reused)
    app.register_error_handler(IdempotencyKeyConflictError, handle_idempotency_key_conflict)
    app.register_error_handler(WriteConflictError, handle_write_conflict)
    for error_class in DATABASE_UNAVAILABLE:
        app.register_error_handler(error_class, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)

"""flask-smorest's ``Api``, documenting every error response as problem+json."""

from __future__ import annotations

import http
from typing import Any

from flask import Flask
from flask_smorest import Api
from werkzeug.exceptions import default_exceptions

from messaging.config import DEFAULT_MAX_CONTENT_LENGTH
from messaging.protocol import (
    BEARER_SCHEME,
    BODY_TOO_LARGE_DETAIL,
    DATABASE_UNAVAILABLE_DETAIL,
    FOREIGN_ACCOUNT_DETAIL,
    IDEMPOTENCY_CONFLICT_DETAIL,
    INVALID_REQUEST_DETAIL,
    MISSING_API_KEY_DETAIL,
    NO_SUCH_MESSAGE_DETAIL,
    NOT_JSON_DETAIL,
    PROBLEM_MIMETYPE,
    RETRY_AFTER_HEADER,
    UNEXPECTED_DETAIL,
    WWW_AUTHENTICATE_HEADER,
)
from messaging.schemas import EXAMPLE_MESSAGE, ProblemSchema

RETRY_AFTER_DOC = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer"},
}
WWW_AUTHENTICATE_DOC = {
    "description": f'How to authenticate: `{BEARER_SCHEME}`, with `error="invalid_token"` for a'
    " bad key.",
    "schema": {"type": "string"},
}


EXAMPLE_REQUEST_ID = "7f3a9c1e5b2d4e6f8a0b1c2d3e4f5a6b"

# What the service answers for each error status it documents.
ERROR_EXAMPLES: dict[int, dict[str, Any]] = {
    401: {"detail": MISSING_API_KEY_DETAIL},
    403: {"detail": FOREIGN_ACCOUNT_DETAIL},
    404: {"detail": NO_SUCH_MESSAGE_DETAIL.format(message_id=EXAMPLE_MESSAGE["message_id"])},
    409: {"detail": IDEMPOTENCY_CONFLICT_DETAIL},
    413: {"detail": BODY_TOO_LARGE_DETAIL.format(limit=DEFAULT_MAX_CONTENT_LENGTH)},
    415: {"detail": NOT_JSON_DETAIL},
    422: {
        "detail": INVALID_REQUEST_DETAIL,
        "errors": {
            "sender_number": [
                "Not a phone number: after removing spaces, hyphens, dots and parentheses it"
                " must be an optional '+' and 3 to 15 digits."
            ],
            "priority": ["Unknown field."],
        },
    },
    500: {
        "detail": UNEXPECTED_DETAIL.format(request_id=EXAMPLE_REQUEST_ID),
        "request_id": EXAMPLE_REQUEST_ID,
    },
    503: {"detail": DATABASE_UNAVAILABLE_DETAIL},
}


def error_example(status: http.HTTPStatus) -> dict[str, Any]:
    """The problem body of ``status``: the service's own detail, else Werkzeug's, which it sends."""
    werkzeug_error = default_exceptions.get(status.value)
    members = ERROR_EXAMPLES.get(
        status.value, {"detail": werkzeug_error.description if werkzeug_error else status.phrase}
    )
    return {"type": "about:blank", "title": status.phrase, "status": status.value, **members}


def status_response(status: http.HTTPStatus) -> dict[str, Any]:
    """The response component of ``status``: an error's problem+json body, with its example
    and the headers it comes with."""
    response: dict[str, Any] = {"description": status.phrase}
    if status == http.HTTPStatus.SERVICE_UNAVAILABLE:
        response["headers"] = {RETRY_AFTER_HEADER: RETRY_AFTER_DOC}
    if status == http.HTTPStatus.UNAUTHORIZED:
        response["headers"] = {WWW_AUTHENTICATE_HEADER: WWW_AUTHENTICATE_DOC}
    if status >= 400:
        response["content"] = {
            PROBLEM_MIMETYPE: {"schema": ProblemSchema, "example": error_example(status)}
        }
    return response


class ProblemApi(Api):
    """flask-smorest's ``Api`` documenting every error as problem+json.

    ``init_app`` registers a response component per status, as JSON; then ours replace them
    under the same names. Both are lazy, so the document lists only those routes refer to.
    ``ERROR_SCHEMA`` is ours so that flask-smorest's first set adds no schema of its own.
    """

    ERROR_SCHEMA = ProblemSchema

    def init_app(self, app: Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        super().init_app(app, spec_kwargs=spec_kwargs)
        for status in http.HTTPStatus:
            self.spec.components.response(status.name, status_response(status), lazy=True)
        default_error = {
            "description": "An error",
            "content": {PROBLEM_MIMETYPE: {"schema": ProblemSchema}},
        }
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default_error, lazy=True)

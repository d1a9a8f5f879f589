"""flask-smorest's ``Api``, documenting every error response as problem+json."""

from __future__ import annotations

import http
from typing import Any

from flask_smorest import Api
from flask_smorest.utils import prepare_response

from messaging.protocol import (
    BEARER_SCHEME,
    PROBLEM_MIMETYPE,
    RETRY_AFTER_HEADER,
    WWW_AUTHENTICATE_HEADER,
)
from messaging.schemas import ProblemSchema

RETRY_AFTER_DOC = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer"},
}
WWW_AUTHENTICATE_DOC = {
    "description": f'How to authenticate: `{BEARER_SCHEME}`, with `error="invalid_token"` for a'
    " bad key.",
    "schema": {"type": "string"},
}


class ProblemApi(Api):
    """flask-smorest's ``Api`` documenting every error as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                response["example"] = {
                    "type": "about:blank",
                    "title": status.phrase,
                    "status": status.value,
                    "detail": status.description,
                }
            if status == http.HTTPStatus.SERVICE_UNAVAILABLE:
                response["headers"] = {RETRY_AFTER_HEADER: RETRY_AFTER_DOC}
            if status == http.HTTPStatus.UNAUTHORIZED:
                response["headers"] = {WWW_AUTHENTICATE_HEADER: WWW_AUTHENTICATE_DOC}
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

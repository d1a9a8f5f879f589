"""The OpenAPI document's shared parts, and Swagger UI served from a package, not a CDN.

flask-smorest writes most of the document from the schemas; this module gives
it the problem+json error body, the response headers several routes share, and
the Swagger UI assets bundled in the ``swagger-ui-bundle`` package so that
``/docs`` works with no internet.
"""

from __future__ import annotations

import http
from typing import Any

from flask import Blueprint, Flask, Response, send_from_directory
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from swagger_ui_bundle import swagger_ui_path

from messaging.errors import PROBLEM_MIMETYPE
from messaging.schemas import CommaSeparated, MessageId, ProblemSchema

SWAGGER_UI_ASSETS_URL = "/docs/assets/"
BEARER_SCHEME_NAME = "bearerAuth"
# Operation-level security: a key needed, or (for probes and metrics) none at all.
NEEDS_API_KEY = [{BEARER_SCHEME_NAME: []}]
OPEN_TO_ALL: list[dict[str, list[str]]] = []

API_SETTINGS: dict[str, Any] = {
    "API_TITLE": "messaging",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": SWAGGER_UI_ASSETS_URL,
    # Swagger UI otherwise sends the document to an online validator for a badge.
    "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Stores SMS-style messages for accounts and finds them again."
            " Errors are RFC 9457 problem details (application/problem+json). Lists are"
            " newest first; when more rows follow, a Link header (RFC 8288) holds the"
            " URL of the next page."
        },
    },
}

LINK_HEADER = {
    "description": 'The next page, as `<URL>; rel="next"`, when more rows follow.',
    "schema": {"type": "string"},
    "example": '<http://localhost:8080/v1/search?limit=100&cursor=aWQ6MTIzNDU>; rel="next"',
}
IDEMPOTENT_REPLAYED_HEADER = {
    "description": "`true` when this answer replays the message an earlier request with the"
    " same Idempotency-Key stored; absent otherwise.",
    "schema": {"type": "string", "enum": ["true"]},
}
REQUEST_ID_HEADER = {
    "description": "The request's id, as sent in X-Request-ID or made up; it is in the logs.",
    "schema": {"type": "string"},
}
WWW_AUTHENTICATE_HEADER = {
    "description": 'How to authenticate: `Bearer`, with `error="invalid_token"` for a bad key.',
    "schema": {"type": "string"},
}
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API key from `flask --app messaging api-key create`.",
}
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer"},
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
                response["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
            if status == http.HTTPStatus.UNAUTHORIZED:
                response["headers"] = {"WWW-Authenticate": WWW_AUTHENTICATE_HEADER}
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "An error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def comma_separated_parameter(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
    """``?a=1,2`` is OpenAPI's form style without explode (repeating ``a`` works too)."""
    if isinstance(field, CommaSeparated):
        return {"style": "form", "explode": False}
    return {}


def configure_openapi(app: Flask) -> None:
    """The document describes the service as it runs: keys are required only with auth on."""
    if app.config["AUTH_ENABLED"]:
        options = app.config.get("API_SPEC_OPTIONS", {})
        components = options.get("components", {})
        app.config["API_SPEC_OPTIONS"] = {
            **options,
            "security": NEEDS_API_KEY,
            "components": {**components, "securitySchemes": {BEARER_SCHEME_NAME: BEARER_SCHEME}},
        }


def register_openapi_components(api: Api) -> None:
    """Components the routes refer to by name; how our own fields are documented.

    Runs before the blueprints are registered: their documents are written then.
    """
    api.register_field(MessageId, "string", "uuid")
    api.ma_plugin.converter.add_parameter_attribute_function(comma_separated_parameter)
    api.spec.components.header("Link", LINK_HEADER)
    api.spec.components.header("Idempotent-Replayed", IDEMPOTENT_REPLAYED_HEADER)
    api.spec.components.header("X-Request-ID", REQUEST_ID_HEADER)


swagger_ui_assets = Blueprint("swagger_ui_assets", __name__)


@swagger_ui_assets.get(f"{SWAGGER_UI_ASSETS_URL}<path:filename>")
def swagger_ui_asset(filename: str) -> Response:
    """A file of the bundled Swagger UI (scripts, styles)."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)


def register_swagger_ui_assets(app: Flask) -> None:
    app.register_blueprint(swagger_ui_assets)

"""The OpenAPI document's own parts: its settings, the components routes refer to by name,
the security it declares and how the service's own fields are described.

flask-smorest writes the rest from the schemas and the routes' decorators.
"""

from __future__ import annotations

import http
from typing import Any

from flask import Flask
from flask_smorest import Api

from messaging.protocol import BEARER_SCHEME, IDEMPOTENT_REPLAYED_HEADER, LINK_HEADER
from messaging.schemas import CommaSeparated, MessageId
from messaging.version import __version__

SWAGGER_UI_ASSETS_URL = "/docs/assets/"
UNUSED_PAGINATION_SCHEMA = "PaginationMetadata"
BEARER_SCHEME_NAME = "bearerAuth"
# Operation-level security: a key needed, or (for probes and metrics) none at all.
NEEDS_API_KEY = [{BEARER_SCHEME_NAME: []}]
OPEN_TO_ALL: list[dict[str, list[str]]] = []

API_SETTINGS: dict[str, Any] = {
    "API_TITLE": "messaging",
    "API_VERSION": __version__,
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": SWAGGER_UI_ASSETS_URL,
    "OPENAPI_SWAGGER_UI_CONFIG": {
        # Swagger UI otherwise sends the document to an online validator for a badge.
        "validatorUrl": None,
        # /docs#/messages/get_v1_search opens that operation: links can point at one.
        "deepLinking": True,
        "displayRequestDuration": True,
    },
    "API_SPEC_OPTIONS": {
        "info": {
            "description": "Stores SMS-style messages for accounts and finds them again."
            " Errors are RFC 9457 problem details (application/problem+json). Lists are"
            " newest first; when more rows follow, a Link header (RFC 8288) holds the"
            " URL of the next page."
        },
    },
}

LINK_DOC = {
    "description": 'The next page, as `<URL>; rel="next"`, when more rows follow.',
    "schema": {"type": "string"},
    "example": '<http://localhost:8080/v1/search?limit=100&cursor=aWQ6MTIzNDU>; rel="next"',
}
IDEMPOTENT_REPLAYED_DOC = {
    "description": "`true` when this answer replays the message an earlier request with the"
    " same Idempotency-Key stored; absent otherwise.",
    "schema": {"type": "string", "enum": ["true"]},
}
BEARER_SCHEME_DOC = {
    "type": "http",
    "scheme": BEARER_SCHEME.lower(),
    "description": "An API key from `flask --app messaging api-key create`.",
}

# Response headers by the name of their component.
LIST_HEADERS = {LINK_HEADER: LINK_HEADER}
CREATE_HEADERS = {IDEMPOTENT_REPLAYED_HEADER: IDEMPOTENT_REPLAYED_HEADER}


def error_responses(*statuses: int) -> dict[int, str]:
    """For ``@blp.doc(responses=...)``: each status's problem+json response component."""
    return {status: http.HTTPStatus(status).name for status in statuses}


def comma_separated_parameter(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
    """``?a=1,2`` is OpenAPI's form style without explode (repeating ``a`` works too)."""
    if isinstance(field, CommaSeparated):
        return {"style": "form", "explode": False}
    return {}


def configure_openapi(app: Flask) -> None:
    """The document describes the service as it runs: keys are required only with auth on."""
    for name, value in API_SETTINGS.items():
        app.config.setdefault(name, value)
    if app.config["AUTH_ENABLED"]:
        options = app.config.get("API_SPEC_OPTIONS", {})
        components = options.get("components", {})
        app.config["API_SPEC_OPTIONS"] = {
            **options,
            "security": NEEDS_API_KEY,
            "components": {
                **components,
                "securitySchemes": {BEARER_SCHEME_NAME: BEARER_SCHEME_DOC},
            },
        }


def register_openapi_components(api: Api) -> None:
    """Components the routes refer to by name; how our own fields are documented.

    Runs before the blueprints are registered: their documents are written then.
    """
    # flask-smorest's offset pagination, which no route uses, registers its schema regardless.
    api.spec.components.schemas.pop(UNUSED_PAGINATION_SCHEMA, None)
    api.register_field(MessageId, "string", "uuid")
    api.ma_plugin.converter.add_parameter_attribute_function(comma_separated_parameter)
    api.spec.components.header(LINK_HEADER, LINK_DOC)
    api.spec.components.header(IDEMPOTENT_REPLAYED_HEADER, IDEMPOTENT_REPLAYED_DOC)

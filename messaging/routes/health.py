"""Liveness (no database call) and readiness (the database answers, quickly)."""

from __future__ import annotations

from flask import Response, jsonify
from flask_smorest import Blueprint

from messaging.openapi import OPEN_TO_ALL
from messaging.problem_api import RETRY_AFTER_DOC
from messaging.protocol import (
    DATABASE_RETRY_AFTER_SECONDS,
    DATABASE_UNAVAILABLE_DETAIL,
    RETRY_AFTER_HEADER,
)
from messaging.readiness import database_is_reachable
from messaging.schemas import HealthSchema, ReadinessSchema
from messaging.version import __version__

blp = Blueprint("health", __name__, description="Is the service up?")

NOT_READY = {
    "status": "unavailable",
    "database": "unreachable",
    "detail": DATABASE_UNAVAILABLE_DETAIL,
}


@blp.get("/health")
@blp.response(200, HealthSchema, example={"status": "ok", "version": __version__})
@blp.doc(security=OPEN_TO_ALL)
def health() -> dict[str, str]:
    """Liveness: 200 while the process serves, with the version serving; no database call."""
    return {"status": "ok", "version": __version__}


@blp.get("/health/ready")
@blp.response(200, ReadinessSchema, example={"status": "ok", "database": "ok"})
@blp.alt_response(
    503,
    schema=ReadinessSchema,
    example=NOT_READY,
    description="The database did not answer within about 2 s.",
    headers={RETRY_AFTER_HEADER: RETRY_AFTER_DOC},
)
@blp.doc(security=OPEN_TO_ALL)
def ready() -> Response:
    """Readiness: 200 when the database answers a trivial query within about 2 s, else 503."""
    if database_is_reachable():
        return jsonify(status="ok", database="ok")
    response = jsonify(NOT_READY)
    response.status_code = 503
    response.headers[RETRY_AFTER_HEADER] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response

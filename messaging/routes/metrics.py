"""The Prometheus scrape endpoint."""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from prometheus_client import CONTENT_TYPE_LATEST

from messaging.metrics import service_metrics
from messaging.openapi import OPEN_TO_ALL

blp = Blueprint("metrics", __name__, description="Prometheus metrics.")


@blp.get("/metrics")
@blp.response(
    200,
    {"type": "string"},
    content_type=CONTENT_TYPE_LATEST,
    example="messaging_messages_created_total 42.0\n",
)
@blp.doc(security=OPEN_TO_ALL)
def metrics() -> Response:
    """Prometheus text exposition format."""
    return Response(service_metrics().exposition(), content_type=CONTENT_TYPE_LATEST)

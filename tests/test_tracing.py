"""Traces: off unless OpenTelemetry's variables ask; on, a request is a span with its SQL inside."""

from __future__ import annotations

import json
import re

import pytest
from opentelemetry.instrumentation.logging import LoggingInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import delete

from messaging import create_app
from messaging.config import ConfigError, traces_exporter
from messaging.extensions import db
from messaging.models import Message
from messaging.tracing import EXTENSION_KEY

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


@pytest.mark.parametrize(
    ("environ", "exporter"),
    [
        ({}, None),
        ({"OTEL_SERVICE_NAME": "messaging"}, None),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, None),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "otlp"),
    ],
)
def test_tracing_is_off_unless_opentelemetry_variables_ask_for_it(environ, exporter):
    assert traces_exporter(environ) == exporter


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "PROTOCOL"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "maybe"}, "OTEL_SDK_DISABLED"),
    ],
)
def test_tracing_settings_it_cannot_honour_are_refused(environ, named):
    with pytest.raises(ConfigError, match=named):
        traces_exporter(environ)


def test_without_tracing_nothing_is_instrumented(app):
    assert EXTENSION_KEY not in app.extensions
    assert app.config["TRACES_EXPORTER"] is None


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    # The SQLAlchemy and logging instrumentors are process-wide: undo them for later tests.
    SQLAlchemyInstrumentor().uninstrument()
    LoggingInstrumentor().uninstrument()
    provider.shutdown()


def test_a_request_is_one_server_span_with_its_sql_spans_as_children(database_url, log_file, spans):
    provider, exporter = spans
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "LOG_FILE": str(log_file),
            "LOG_FORMAT": "json",
            "TRACER_PROVIDER": provider,
        }
    )
    client = app.test_client()
    body = {"account_id": 9, "sender_number": "+15551230001", "receiver_number": "+15559870001"}
    try:
        assert client.post("/v1/create", json=body).status_code == 200
        exporter.clear()
        response = client.get("/v1/get/messages/9", headers={"traceparent": TRACEPARENT})
        finished = exporter.get_finished_spans()
    finally:
        with app.app_context():
            db.session.execute(delete(Message))
            db.session.commit()
            db.engine.dispose()
    assert response.status_code == 200

    servers = [span for span in finished if span.kind == SpanKind.SERVER]
    assert len(servers) == 1
    server = servers[0]
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == PARENT_SPAN_ID
    assert server.attributes["http.route"] == "/v1/get/messages/<account_id>"
    queries = [span for span in finished if span.kind == SpanKind.CLIENT]
    assert queries, [span.name for span in finished]
    for query in queries:
        assert query.parent.span_id == server.context.span_id
        assert query.context.trace_id == server.context.trace_id
        assert "15551230001" not in json.dumps(dict(query.attributes))

    access = [
        entry
        for entry in map(json.loads, log_file.read_text().splitlines())
        if entry["logger"] == "messaging.access" and entry["path"] == "/v1/get/messages/9"
    ]
    assert len(access) == 1
    assert access[0]["trace_id"] == TRACE_ID
    assert re.search(rf" trace={TRACE_ID}$", access[0]["message"])

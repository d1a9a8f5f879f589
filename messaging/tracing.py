"""Traces with OpenTelemetry, off unless OpenTelemetry's own variables ask for them.

On (``config.traces_exporter``), each request is a server span that continues an
incoming ``traceparent``, each SQL statement is a child span, log records carry
the trace and span ids, and the access line names the trace. The exporter's
endpoint, headers and timeouts, the sampler and the resource attributes are
read by the SDK from its standard ``OTEL_*`` variables. Off, nothing of
OpenTelemetry is even imported, so a request pays one dictionary lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app, has_app_context

from messaging.extensions import db
from messaging.version import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

SERVICE_NAME = "messaging"
EXTENSION_KEY = "messaging.tracing"
# Tests hand in a provider of their own (an in-memory exporter) under this key.
PROVIDER_SETTING = "TRACER_PROVIDER"


def make_tracer_provider(exporter: str) -> TracerProvider:
    """A provider that batches spans to ``exporter``, named ``messaging`` unless told otherwise."""
    from opentelemetry.sdk.resources import SERVICE_NAME as NAME_KEY
    from opentelemetry.sdk.resources import SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    resource = Resource.create({SERVICE_VERSION: __version__})
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win; the SDK's default name says nothing.
    if str(resource.attributes.get(NAME_KEY, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({NAME_KEY: SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider


def init_tracing(app: Flask) -> None:
    """Instrument Flask, the database engine and log records when tracing is on."""
    provider = app.config.get(PROVIDER_SETTING)
    if provider is None:
        exporter = app.config["TRACES_EXPORTER"]
        if exporter is None:
            return
        provider = make_tracer_provider(exporter)
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.logging import LoggingInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)
    with app.app_context():
        # The instrumentation declares SQLAlchemy below 2.1; the engine events it listens to
        # are the same in 2.1, and tests/test_tracing.py checks the spans it makes.
        SQLAlchemyInstrumentor().instrument(
            engine=db.engine, tracer_provider=provider, skip_dep_check=True
        )
    LoggingInstrumentor().instrument(tracer_provider=provider)
    app.extensions[EXTENSION_KEY] = provider


def current_trace_id() -> str | None:
    """The trace the current request belongs to (32 hex digits), or None without tracing."""
    if not has_app_context() or EXTENSION_KEY not in current_app.extensions:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None

"""Prometheus metrics: the exporter's request metrics and the service's own counters.

Metrics are made per application, in its own registry: an exporter made once at
import would instrument only the first application a process creates. Under
gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` is set and every worker writes its values
to files there; a scrape then sums the files of all workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, current_app
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_flask_exporter import PrometheusMetrics

from messaging.version import __version__

EXTENSION_KEY = "messaging.metrics"

# The "_created" timestamp series double every counter's output and no dashboard reads them.
disable_created_metrics()

# RFC 9110's methods and PATCH (RFC 5789); any other is one method, OTHER.
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
OTHER_METHOD = "OTHER"


class BoundedMethodRequest(Request):
    """A request whose ``method`` is one of HTTP's or ``OTHER``.

    The exporter labels every request metric with the method, and a client may invent
    any number of methods (each answered 405): one series per invention would let
    anyone grow ``/metrics`` without bound. Routing still sees the method as sent.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.method not in KNOWN_METHODS:
            self.method = OTHER_METHOD


@dataclass
class ServiceMetrics:
    registry: CollectorRegistry
    messages_created: Counter
    database_errors: Counter

    def exposition(self) -> bytes:
        """The text a scrape gets: all workers' values when several processes share them."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def init_metrics(app: Flask) -> ServiceMetrics:
    app.request_class = BoundedMethodRequest
    registry = CollectorRegistry(auto_describe=True)
    PrometheusMetrics(app, path=None, registry=registry, group_by="url_rule")
    metrics = ServiceMetrics(
        registry=registry,
        messages_created=Counter(
            "messaging_messages_created",
            "Messages stored since the service started.",
            registry=registry,
        ),
        database_errors=Counter(
            "messaging_database_errors",
            "Requests and readiness checks that found the database unreachable.",
            registry=registry,
        ),
    )
    # 1, labelled with what runs: a dashboard can show versions side by side during a rollout.
    Gauge(
        "messaging_build_info",
        "The version of the service, as a label; the value is always 1.",
        ["version"],
        registry=registry,
        multiprocess_mode="max",
    ).labels(version=__version__).set(1)
    app.extensions[EXTENSION_KEY] = metrics
    return metrics


def service_metrics() -> ServiceMetrics:
    return current_app.extensions[EXTENSION_KEY]

"""Liveness needs no database; readiness answers within about 2 s whatever the database does."""

from __future__ import annotations

import time

from messaging import create_app
from messaging.schemas import ReadinessSchema
from messaging.version import __version__
from tests.tcp_proxy import TcpProxy

READY_DEADLINE_SECONDS = 2.5


def assert_not_ready(response) -> None:
    assert response.status_code == 503
    assert response.content_type == "application/json"
    assert response.headers["Retry-After"].isdigit()
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unreachable"
    assert ReadinessSchema().validate(body) == {}  # as the OpenAPI document says


def test_health_is_200_ok_with_the_version(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": __version__}


def test_ready_when_database_answers(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert ReadinessSchema().validate(response.get_json()) == {}


def test_ready_is_503_when_database_port_refuses(unreachable_app):
    started = time.monotonic()
    response = unreachable_app.test_client().get("/health/ready")
    assert time.monotonic() - started < READY_DEADLINE_SECONDS
    assert_not_ready(response)


def test_ready_is_503_within_2_seconds_when_database_never_answers(log_file):
    with TcpProxy("127.0.0.1", 9) as silent_database:
        silent_database.blackhole()
        url = f"mysql+pymysql://messaging@127.0.0.1:{silent_database.port}/messaging"
        app = create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "LOG_FILE": str(log_file)}
        )
        started = time.monotonic()
        response = app.test_client().get("/health/ready")
        elapsed = time.monotonic() - started
        assert silent_database.connections_accepted == 1
    assert elapsed < READY_DEADLINE_SECONDS
    assert_not_ready(response)


def test_first_ready_is_503_within_2_seconds_when_each_answer_is_slow(
    database_proxy, proxied_database_url, log_file
):
    # Each packet within every timeout, but a first connection's several round trips are not.
    database_proxy.delay = 0.3
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": proxied_database_url,
            "LOG_FILE": str(log_file),
        }
    )
    started = time.monotonic()
    response = app.test_client().get("/health/ready")
    assert time.monotonic() - started < READY_DEADLINE_SECONDS
    assert_not_ready(response)
    assert "no answer within" in log_file.read_text()

"""connections.py: a silent database fails requests fast; real queries keep a patient timeout."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from messaging import create_app
from messaging.config import MYSQL_CHECK_TIMEOUT, MYSQL_READ_TIMEOUT, engine_options
from messaging.extensions import db

OUTAGE_DEADLINE_SECONDS = 3.0


def test_query_slower_than_the_check_timeout_still_succeeds(app, database_url):
    if not database_url.startswith("mysql"):
        pytest.skip("the check timeout is a MySQL matter")
    pause = MYSQL_CHECK_TIMEOUT + 0.5
    with app.app_context():
        # Twice: on a new connection, then on the same one back from the pool.
        for _ in range(2):
            assert db.session.execute(text(f"SELECT SLEEP({pause})")).scalar() == 0
            db.session.commit()


def test_pooled_connection_to_a_silent_database_gives_503_within_3_seconds(
    database_proxy, proxied_database_url, log_file
):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": proxied_database_url,
            "LOG_FILE": str(log_file),
        }
    )
    client = app.test_client()
    # The pool now holds a connection, which goes silent below.
    assert client.get("/v1/get/messages/1").status_code == 200
    database_proxy.blackhole()
    for _ in range(2):
        started = time.monotonic()
        response = client.get("/v1/get/messages/1")
        assert time.monotonic() - started < OUTAGE_DEADLINE_SECONDS
        assert response.status_code == 503
        assert response.headers["Retry-After"]
    database_proxy.restore()
    assert client.get("/v1/get/messages/1").status_code == 200
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("url", "read_timeout"),
    [
        ("mysql+pymysql://svc@db/messaging", MYSQL_CHECK_TIMEOUT),
        ("mariadb+pymysql://svc@db/messaging", MYSQL_CHECK_TIMEOUT),
        # No checkout/checkin hooks for other drivers: they keep the patient timeout.
        ("mysql+mysqldb://svc@db/messaging", MYSQL_READ_TIMEOUT),
    ],
)
def test_only_pymysql_connects_with_the_brief_timeout(url, read_timeout):
    assert engine_options(make_url(url))["connect_args"]["read_timeout"] == read_timeout

"""connections.py: a silent database fails requests fast, real queries keep a patient timeout,
and connections return to the pool with no transaction open, rolled back only when needed."""

from __future__ import annotations

import threading
import time

import pymysql
import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from messaging import create_app
from messaging.config import MYSQL_CHECK_TIMEOUT, MYSQL_READ_TIMEOUT, engine_options
from messaging.connections import current_connection
from messaging.extensions import db

OUTAGE_DEADLINE_SECONDS = 3.0
LIST_PATH = "/v1/get/messages/1"


def session_counter(raw_connection, name: str) -> int:
    """A counter of this connection's own session, read through the connection itself."""
    cursor = raw_connection.cursor()
    cursor.execute(f"SHOW SESSION STATUS LIKE '{name}'")
    value = int(cursor.fetchone()[1])
    cursor.close()
    return value


def connection_id(raw_connection) -> int:
    cursor = raw_connection.cursor()
    cursor.execute("SELECT CONNECTION_ID()")
    value = cursor.fetchone()[0]
    cursor.close()
    return value


def pooled_connection_id(app: Flask) -> int:
    """The server's id of the connection the pool hands out next."""
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            return connection_id(raw)
        finally:
            raw.close()


def admin_connection(app: Flask, database_url: str | None = None) -> pymysql.Connection:
    """A connection of the test's own, to ``database_url`` (by default the app's database)."""
    url = make_url(database_url or app.config["SQLALCHEMY_DATABASE_URI"])
    return pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        database=url.database,
        autocommit=True,
    )


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


def test_only_pymysql_connections_skip_the_rollback_after_a_commit():
    pymysql_options = engine_options(make_url("mysql+pymysql://svc@db/messaging"))
    assert pymysql_options["pool_reset_on_return"] is None
    other_options = engine_options(make_url("mysql+mysqldb://svc@db/messaging"))
    assert other_options["pool_reset_on_return"] == "rollback"


def test_killed_pooled_connection_is_never_handed_to_a_request(mariadb_app):
    client = mariadb_app.test_client()
    assert client.get(LIST_PATH).status_code == 200
    pooled_id = pooled_connection_id(mariadb_app)
    with admin_connection(mariadb_app) as admin, admin.cursor() as cursor:
        cursor.execute(f"KILL CONNECTION {pooled_id}")

    for _ in range(3):
        assert client.get(LIST_PATH).status_code == 200
    with mariadb_app.app_context():
        raw = db.engine.raw_connection()
        assert connection_id(raw) != pooled_id
        raw.close()


def test_a_create_returns_its_connection_to_the_pool_without_another_rollback(mariadb_app):
    client = mariadb_app.test_client()
    assert client.get(LIST_PATH).status_code == 200
    with mariadb_app.app_context():
        raw = db.engine.raw_connection()
        pooled_id = connection_id(raw)
        rollbacks = session_counter(raw, "Com_rollback")
        raw.close()  # used through the DBAPI: rolled back once as it returns

    create = client.post(
        "/v1/create",
        json={"account_id": 1, "sender_number": "+15550001", "receiver_number": "+15550002"},
    )
    assert create.status_code == 200

    with mariadb_app.app_context():
        raw = db.engine.raw_connection()
        assert connection_id(raw) == pooled_id
        assert session_counter(raw, "Com_rollback") == rollbacks + 1
        raw.close()


def test_connection_committed_outside_a_request_is_still_rolled_back(mariadb_app):
    with mariadb_app.app_context():
        with db.engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            rollbacks = session_counter(raw, "Com_rollback")
            connection.execute(
                text(
                    "INSERT INTO messages (message_id, account_id, sender_number,"
                    " receiver_number, created_at) VALUES"
                    " (UUID(), 1, '+15550001', '+15550002', UTC_TIMESTAMP(6))"
                )
            )
            connection.commit()

        raw = db.engine.raw_connection()
        assert session_counter(raw, "Com_rollback") == rollbacks + 1
        raw.close()


def test_connection_used_through_the_dbapi_is_rolled_back_even_after_a_commit(mariadb_app):
    with mariadb_app.app_context():
        raw = db.engine.raw_connection()
        rollbacks = session_counter(raw, "Com_rollback")
        raw.commit()
        raw.close()

        raw = db.engine.raw_connection()
        assert session_counter(raw, "Com_rollback") == rollbacks + 1
        raw.close()


def test_connection_returned_with_uncommitted_writes_is_rolled_back(mariadb_app):
    with mariadb_app.app_context():
        raw = db.engine.raw_connection()
        cursor = raw.cursor()
        cursor.execute(
            "INSERT INTO messages (message_id, account_id, sender_number, receiver_number,"
            " created_at) VALUES (UUID(), 2, '+15550001', '+15550002', UTC_TIMESTAMP(6))"
        )
        raw.close()

        with db.engine.connect() as connection:
            count = connection.execute(text("SELECT COUNT(*) FROM messages WHERE account_id = 2"))
            assert count.scalar() == 0


def test_connection_returned_after_a_read_starts_the_next_use_with_a_fresh_snapshot(
    mariadb_app,
):
    with mariadb_app.app_context():
        raw = db.engine.raw_connection()
        pooled_id = connection_id(raw)
        cursor = raw.cursor()
        cursor.execute("SELECT COUNT(*) FROM messages WHERE account_id = 3")
        assert cursor.fetchone()[0] == 0
        raw.close()

        with admin_connection(mariadb_app) as admin, admin.cursor() as admin_cursor:
            admin_cursor.execute(
                "INSERT INTO messages (message_id, account_id, sender_number, receiver_number,"
                " created_at) VALUES (UUID(), 3, '+15550001', '+15550002', UTC_TIMESTAMP(6))"
            )

        raw = db.engine.raw_connection()
        assert connection_id(raw) == pooled_id
        cursor = raw.cursor()
        cursor.execute("SELECT COUNT(*) FROM messages WHERE account_id = 3")
        assert cursor.fetchone()[0] == 1
        raw.close()


@pytest.mark.parametrize("path", [LIST_PATH, "/v1/search?sender_number=+15550001"])
def test_requests_leave_no_transaction_open(mariadb_app, path):
    client = mariadb_app.test_client()
    create = client.post(
        "/v1/create",
        json={"account_id": 1, "sender_number": "+15550001", "receiver_number": "+15550002"},
    )
    assert create.status_code == 200
    assert client.get(path).status_code == 200
    pooled_id = pooled_connection_id(mariadb_app)
    with admin_connection(mariadb_app) as admin, admin.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = %s",
            (pooled_id,),
        )
        assert cursor.fetchone()[0] == 0


SECRET_TEXT = "meet me at the usual place"
SENDER, RECEIVER = "+15551239876", "+15559871234"
FAULT_MESSAGE = {
    "account_id": 7,
    "sender_number": SENDER,
    "receiver_number": RECEIVER,
    "message_text": SECRET_TEXT,
}


def routes_that_query(message_id: str) -> list[tuple[str, str, dict]]:
    """Every route that runs a query on the messages table: (method, path, request options)."""
    return [
        ("POST", "/v1/create", {"json": FAULT_MESSAGE}),
        ("POST", "/v1/create", {"json": FAULT_MESSAGE, "headers": {"Idempotency-Key": "cut-1"}}),
        ("GET", "/v1/get/messages/7", {}),
        ("GET", f"/v1/search?sender_number={SENDER.replace('+', '%2B')}", {}),
        ("GET", f"/v1/messages/{message_id}", {}),
        ("DELETE", f"/v1/messages/{message_id}", {}),
    ]


def wait_for_query_waiting_on_a_lock(admin: pymysql.Connection, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with admin.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                " WHERE STATE LIKE 'Waiting for table%%' AND ID <> CONNECTION_ID()"
                " AND DB = DATABASE()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("no query started waiting on the locked table")


@pytest.mark.parametrize(
    "route", range(6), ids=["create", "idempotent-create", "list", "search", "get", "delete"]
)
def test_connection_cut_mid_query_is_503_with_retry_after_not_a_500(
    database_proxy, proxied_database_url, mariadb_database, log_file, route
):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": proxied_database_url,
            "LOG_FILE": str(log_file),
        }
    )
    client = app.test_client()
    stored = client.post("/v1/create", json=FAULT_MESSAGE)
    assert stored.status_code == 200
    method, path, options = routes_that_query(stored.get_json()["message_id"])[route]

    # Straight to the server, not through the proxy: cutting the proxy must not end the lock
    # (and let the request's query finish) before it has cut the request's connection.
    with admin_connection(app, mariadb_database) as admin:
        with admin.cursor() as cursor:
            # The request's query waits on the lock; the connection is cut while it waits.
            cursor.execute("LOCK TABLES messages WRITE")
        cutter = threading.Thread(
            target=lambda: (wait_for_query_waiting_on_a_lock(admin), database_proxy.cut())
        )
        cutter.start()
        response = client.open(path, method=method, **options)
        cutter.join()

    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    database_proxy.restore()
    assert client.get("/v1/get/messages/7").status_code == 200
    logged = log_file.read_text()
    assert "database unavailable" in logged
    for secret in (SENDER, RECEIVER, SENDER[1:], SECRET_TEXT):
        assert secret not in logged
    with app.app_context():
        db.engine.dispose()


def test_database_errors_never_quote_statement_parameters(app):
    with app.app_context():
        with pytest.raises(DBAPIError) as raised:
            db.session.execute(
                text("INSERT INTO no_such_table (number, body) VALUES (:number, :body)"),
                {"number": SENDER, "body": SECRET_TEXT},
            )
        db.session.rollback()
    assert SENDER not in str(raised.value)
    assert SECRET_TEXT not in str(raised.value)


def test_a_connection_lost_after_the_last_query_still_gives_the_response(mariadb_app):
    """The request's work is done and its response made; the connection dies before the
    request's end rolls its transaction back. The client gets the response, not an error page."""

    @mariadb_app.get("/test/read-then-lose-the-connection")
    def read_then_lose_the_connection():
        own_id = current_connection().execute(text("SELECT CONNECTION_ID()")).scalar_one()
        with admin_connection(mariadb_app) as admin, admin.cursor() as cursor:
            cursor.execute(f"KILL CONNECTION {own_id}")
        return {"read": True}

    client = mariadb_app.test_client()
    response = client.get("/test/read-then-lose-the-connection")
    assert response.status_code == 200
    assert response.get_json() == {"read": True}
    # The next request gets a working connection.
    assert client.get(LIST_PATH).status_code == 200

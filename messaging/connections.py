"""PyMySQL connections that give up quickly on a vanished database, and wait patiently for queries.

PyMySQL has one read timeout for everything a connection waits for. A query
deserves a patient one (``MYSQL_READ_TIMEOUT``). But the handshake of a new
connection and the pool's pre-ping only ask whether the server is there: with a
patient timeout, a database host that silently drops packets would hold the
first request of every worker for that long before its 503. So a connection
waits briefly while it is made and while it sits in the pool, where the
pre-ping finds it, and patiently only while a request holds it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from messaging.config import MYSQL_CHECK_TIMEOUT, MYSQL_READ_TIMEOUT, uses_pymysql


def _wait_patiently(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # Checked out: the pre-ping (with the brief timeout) has passed.
    dbapi_connection._read_timeout = MYSQL_READ_TIMEOUT


def _wait_briefly(dbapi_connection: Any, record: Any) -> None:
    # Back in the pool: the next checkout's pre-ping must fail fast.
    if dbapi_connection is not None:
        dbapi_connection._read_timeout = MYSQL_CHECK_TIMEOUT


def watch_connections(engine: Engine) -> None:
    """Give ``engine``'s PyMySQL connections the patient read timeout only while in use."""
    if uses_pymysql(engine.url) and not event.contains(engine, "checkout", _wait_patiently):
        event.listen(engine, "checkout", _wait_patiently)
        event.listen(engine, "checkin", _wait_briefly)

"""Database connections: one per request, and PyMySQL's quick to give up on a vanished
database, patient with queries, and rolled back on return only when they may hold a transaction.

PyMySQL has one read timeout for everything a connection waits for. A query
deserves a patient one (``MYSQL_READ_TIMEOUT``). But the handshake of a new
connection and the pool's pre-ping only ask whether the server is there: with a
patient timeout, a database host that silently drops packets would hold the
first request of every worker for that long before its 503. So a connection
waits briefly while it is made and while it sits in the pool, where the
pre-ping finds it, and patiently only while a request holds it.

The pool's default reset rolls every connection back as it returns, even right
after a commit: on a create that is a round trip on top of the INSERT and the
COMMIT, for nothing. A returning connection is rolled back unless SQLAlchemy
ended the transaction itself (its last word on the connection was COMMIT or
ROLLBACK) and the server's status flags, which every OK packet carries, say no
transaction is open. A connection used directly through the DBAPI is always
rolled back.

A request does all its database work on one connection, ``current_connection()``: the
lookup of its API key, its reads, its INSERT and COMMIT (the pattern of Flask's tutorial,
``get_db`` on ``g``, with SQLAlchemy Core). It is checked out of the pool on first use and
returned as the request ends, after its response is made: a rollback that fails then (the
server went away, or a Galera node stopped serving, right after the last query) discards
the connection instead of turning a finished response into an error page. The ORM session
is left to the command-line commands that manage API keys.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g
from pymysql.constants import SERVER_STATUS
from sqlalchemy import Connection, Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from messaging.config import MYSQL_CHECK_TIMEOUT, MYSQL_READ_TIMEOUT, uses_pymysql
from messaging.extensions import db

log = logging.getLogger(__name__)

# Where an app context keeps its connection, on ``flask.g``.
CONNECTION_KEY = "db_connection"
# In the pool's per-connection ``info``: whether SQLAlchemy's last word was COMMIT or ROLLBACK.
ENDED_BY_SQLALCHEMY = "messaging_transaction_ended"


def _wait_patiently(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # Checked out: the pre-ping (with the brief timeout) has passed.
    dbapi_connection._read_timeout = MYSQL_READ_TIMEOUT
    # Whatever is done with it now, before SQLAlchemy begins a transaction, is unknown.
    record.info.pop(ENDED_BY_SQLALCHEMY, None)


def _wait_briefly(dbapi_connection: Any, record: Any) -> None:
    # Back in the pool: the next checkout's pre-ping must fail fast.
    if dbapi_connection is not None:
        dbapi_connection._read_timeout = MYSQL_CHECK_TIMEOUT


def _note_transaction_begun(connection: Connection) -> None:
    if not connection.invalidated:
        connection.info[ENDED_BY_SQLALCHEMY] = False


def _note_transaction_ended(connection: Connection) -> None:
    # A connection lost mid-query is invalidated: asking for its ``info`` would raise
    # PendingRollbackError in place of the original error (and, in a session's teardown,
    # outside Flask's error handling). Its DBAPI connection is discarded, nothing to note.
    if not connection.invalidated:
        connection.info[ENDED_BY_SQLALCHEMY] = True


def server_says_no_transaction(dbapi_connection: Any) -> bool:
    status = getattr(dbapi_connection, "server_status", None)
    return status is not None and not status & SERVER_STATUS.SERVER_STATUS_IN_TRANS


def _roll_back_unless_ended(
    dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    if state.transaction_was_reset or (
        record.info.get(ENDED_BY_SQLALCHEMY) and server_says_no_transaction(dbapi_connection)
    ):
        return
    dbapi_connection.rollback()


def watch_connections(engine: Engine) -> None:
    """Give ``engine``'s PyMySQL connections the patient read timeout only while in use, and
    roll them back on return only when they may hold a transaction."""
    if uses_pymysql(engine.url) and not event.contains(engine, "checkout", _wait_patiently):
        event.listen(engine, "checkout", _wait_patiently)
        event.listen(engine, "checkin", _wait_briefly)
        event.listen(engine, "begin", _note_transaction_begun)
        event.listen(engine, "commit", _note_transaction_ended)
        event.listen(engine, "rollback", _note_transaction_ended)
        event.listen(engine, "reset", _roll_back_unless_ended)


def current_connection() -> Connection:
    """This request's (or command's) connection: checked out of the pool on first use,
    returned as its app context ends."""
    connection: Connection | None = g.get(CONNECTION_KEY)
    if connection is None:
        connection = db.engine.connect()
        setattr(g, CONNECTION_KEY, connection)
    return connection


def close_connections_quietly(app: Flask) -> None:
    """Return each app context's connection to the pool as the context ends; should the
    rollback of an open transaction fail, log it (the pool has discarded the connection)
    rather than raise after the response is made."""

    @app.teardown_appcontext
    def close_connection(error: BaseException | None) -> None:
        connection: Connection | None = g.pop(CONNECTION_KEY, None)
        if connection is None:
            return
        try:
            connection.close()
        except sa_exc.SQLAlchemyError as failure:
            cause = getattr(failure, "orig", None) or failure
            log.warning(
                "database connection lost as a request ended, discarded: %s %s",
                type(cause).__name__,
                getattr(cause, "args", ())[:1],
            )

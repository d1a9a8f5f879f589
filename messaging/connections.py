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
COMMIT, for nothing. A request's connection is returned without a rollback when
the request ended what it began (SQLAlchemy's ``Connection`` is in no
transaction: it committed or rolled back) and the server's status flags, which
every OK packet carries, agree that no transaction is open. Any other
connection (a command's, one used directly through the DBAPI) is rolled back.
The request's teardown says so on the connection as it closes it; listening to
the engine's transaction events instead would make every statement of every
request dispatch SQLAlchemy's execution events, about 6 % of a create's
instructions (BENCHMARKS.md).

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
# In the pool's per-connection ``info``: set by the request that returns it in no transaction.
ENDED_BY_REQUEST = "messaging_transaction_ended"


def _wait_patiently(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # Checked out: the pre-ping (with the brief timeout) has passed.
    dbapi_connection._read_timeout = MYSQL_READ_TIMEOUT
    # Whatever is done with it now is unknown until a request's teardown says otherwise.
    record.info.pop(ENDED_BY_REQUEST, None)


def _wait_briefly(dbapi_connection: Any, record: Any) -> None:
    # Back in the pool: the next checkout's pre-ping must fail fast.
    if dbapi_connection is not None:
        dbapi_connection._read_timeout = MYSQL_CHECK_TIMEOUT


def server_says_no_transaction(dbapi_connection: Any) -> bool:
    status = getattr(dbapi_connection, "server_status", None)
    return status is not None and not status & SERVER_STATUS.SERVER_STATUS_IN_TRANS


def _roll_back_unless_ended(
    dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState
) -> None:
    if state.transaction_was_reset or (
        record.info.get(ENDED_BY_REQUEST) and server_says_no_transaction(dbapi_connection)
    ):
        return
    dbapi_connection.rollback()


def watch_connections(engine: Engine) -> None:
    """Give ``engine``'s PyMySQL connections the patient read timeout only while in use, and
    roll them back on return only when they may hold a transaction."""
    if uses_pymysql(engine.url) and not event.contains(engine, "checkout", _wait_patiently):
        event.listen(engine, "checkout", _wait_patiently)
        event.listen(engine, "checkin", _wait_briefly)
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
            if not connection.invalidated and not connection.in_transaction():
                # Committed or rolled back: the pool's reset may spare the rollback.
                connection.info[ENDED_BY_REQUEST] = True
            connection.close()
        except sa_exc.SQLAlchemyError as failure:
            cause = getattr(failure, "orig", None) or failure
            log.warning(
                "database connection lost as a request ended, discarded: %s %s",
                type(cause).__name__,
                getattr(cause, "args", ())[:1],
            )

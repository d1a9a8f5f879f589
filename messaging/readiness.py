"""Readiness: whether this worker can reach its database now, decided within about 2 seconds.

Requests use the pool with generous read timeouts (a real query may take a
while). The readiness probe must answer fast even when the database host
swallows packets, so it opens its own fresh connection with one-second
timeouts, runs ``SELECT 1`` and closes it. A fresh connection also proves what
a pooled one cannot: that new logins work.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from messaging.config import HIDDEN_PARAMETERS, MYSQL_CHECK_TIMEOUT, is_mysql
from messaging.errors import DATABASE_UNAVAILABLE, report_database_unavailable
from messaging.extensions import db

EXTENSION_KEY = "messaging.readiness"


def probe_engine() -> Engine:
    """The engine the probe connects with, made once per application (in its worker)."""
    engine = current_app.extensions.get(EXTENSION_KEY)
    if engine is None:
        url = db.engine.url
        if is_mysql(url):
            timeouts = {
                "connect_timeout": MYSQL_CHECK_TIMEOUT,
                "read_timeout": MYSQL_CHECK_TIMEOUT,
                "write_timeout": MYSQL_CHECK_TIMEOUT,
            }
            engine = create_engine(
                url, poolclass=NullPool, connect_args=timeouts, **HIDDEN_PARAMETERS
            )
        else:
            engine = db.engine
        engine = current_app.extensions.setdefault(EXTENSION_KEY, engine)
    return engine


def database_is_reachable() -> bool:
    """Run a trivial query on a fresh connection; False (and logged, counted) if it fails."""
    try:
        with probe_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except DATABASE_UNAVAILABLE as error:
        report_database_unavailable(error, "readiness")
        return False
    return True

"""Readiness: whether this worker can reach its database now, decided within about 2 seconds.

Requests use the pool with generous read timeouts (a real query may take a
while). The readiness probe must answer fast even when the database host
swallows packets, so it opens its own fresh connection with one-second
timeouts, runs ``SELECT 1`` and closes it. A fresh connection also proves what
a pooled one cannot: that new logins work.

The timeouts bound each wait, not their sum: a host name with several addresses
is tried once per address, and an engine's first connection asks the server a
few questions of its own before ``SELECT 1``. So the probe runs in a thread of
its own and the answer is 503 when it has not finished by the deadline; the
thread ends by itself within its timeouts.
"""

from __future__ import annotations

import threading

from flask import current_app
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from messaging.config import HIDDEN_PARAMETERS, MYSQL_CHECK_TIMEOUT, is_mysql
from messaging.errors import DATABASE_UNAVAILABLE, report_database_unavailable
from messaging.extensions import db

EXTENSION_KEY = "messaging.readiness"

# The readiness answer comes within about 2 s, whatever the database does.
READINESS_DEADLINE_SECONDS = 1.8


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


def _probe(engine: Engine, outcome: list[BaseException | None]) -> None:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DATABASE_UNAVAILABLE as error:
        outcome.append(error)
    else:
        outcome.append(None)


def database_is_reachable() -> bool:
    """Run a trivial query on a fresh connection; False (and logged, counted) if it fails
    or has not answered within ``READINESS_DEADLINE_SECONDS``."""
    outcome: list[BaseException | None] = []
    probe = threading.Thread(target=_probe, args=(probe_engine(), outcome), daemon=True)
    probe.start()
    probe.join(READINESS_DEADLINE_SECONDS)
    if outcome == [None]:
        return True
    error = (
        outcome[0] if outcome else TimeoutError(f"no answer within {READINESS_DEADLINE_SECONDS} s")
    )
    report_database_unavailable(error, "readiness")
    return False

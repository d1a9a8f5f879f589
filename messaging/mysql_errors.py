"""MySQL error numbers the service acts on, and reading the number off a database error.

PyMySQL and mysqlclient raise errors whose first argument is the server's (or the
client library's) error number; SQLAlchemy wraps them and keeps the driver's error as
``orig``. MariaDB uses the same numbers.
"""

from __future__ import annotations

# Write conflicts: a deadlock victim, or on Galera a failed certification; a lock wait timeout.
MYSQL_DEADLOCK = 1213
MYSQL_LOCK_WAIT_TIMEOUT = 1205
# Refusals that waiting cannot cure: a setting or a grant is wrong.
MYSQL_DATABASE_ACCESS_DENIED = 1044
MYSQL_ACCESS_DENIED = 1045
MYSQL_UNKNOWN_DATABASE = 1049
MYSQL_ACCESS_DENIED_NO_PASSWORD = 1698
ACCESS_REFUSED_CODES = frozenset(
    {
        MYSQL_DATABASE_ACCESS_DENIED,
        MYSQL_ACCESS_DENIED,
        MYSQL_UNKNOWN_DATABASE,
        MYSQL_ACCESS_DENIED_NO_PASSWORD,
    }
)
# The server errors that mean it cannot serve us now: those refusals (a setting to fix), too
# many connections, a Galera node not ready (not synced, or outside the primary component),
# shutting down, connections aborted or killed.
SERVER_UNAVAILABLE_CODES = ACCESS_REFUSED_CODES | frozenset(
    {1040, 1047, 1053, 1077, 1152, 1153, 1158, 1159, 1160, 1161, 1927}
)
# The client library's own errors (cannot connect, server gone, connection lost).
CLIENT_ERROR_CODES = range(2000, 3000)


def mysql_error_code(error: BaseException) -> int | None:
    """The error number of a driver's error, or of the driver's error a SQLAlchemy error
    wraps; None for an error that carries none (SQLite's, or one of the service's own)."""
    cause = getattr(error, "orig", None) or error
    args = getattr(cause, "args", ())
    return args[0] if args and isinstance(args[0], int) else None

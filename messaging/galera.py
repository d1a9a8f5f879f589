"""Read-your-writes on a MariaDB Galera Cluster: ``wsrep_sync_wait`` set on every connection.

A Galera node acknowledges a commit once every node has certified it, but applies other
nodes' commits a moment later: a read through one node right after a create through another
can miss the message (3 misses in 300 tries on the loopback cluster). With
``wsrep_sync_wait=1`` a node first catches up with everything committed in the cluster
before it runs a read, at the price of one round trip through the cluster per read.

``DB_SYNC_WAIT`` chooses: unset, every connection to a Galera node gets 1 unless the server
already sets a stronger value; a number 0 to 15 is the ``wsrep_sync_wait`` bit mask to set (0
turns the wait off). A server that is not a Galera node (``wsrep_on`` absent or OFF: plain
MariaDB, MySQL) and SQLite are left alone, so the setting costs nothing there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from messaging.config import is_mysql

# wsrep_sync_wait's bit for reads (SELECT, SHOW, BEGIN/START TRANSACTION).
SYNC_WAIT_READS = 1
GALERA_VARIABLES = "SHOW SESSION VARIABLES WHERE Variable_name IN ('wsrep_on', 'wsrep_sync_wait')"


def sync_wait_for(variables: dict[str, str], setting: int | None) -> int | None:
    """The ``wsrep_sync_wait`` to set on a connection with these server variables, or None."""
    if variables.get("wsrep_on", "OFF").upper() != "ON":
        return None
    if setting is not None:
        return setting
    current = int(variables.get("wsrep_sync_wait") or 0)
    return None if current & SYNC_WAIT_READS else current | SYNC_WAIT_READS


def wait_for_cluster_on_connect(engine: Engine, setting: int | None) -> None:
    """Give each new connection of ``engine`` the ``wsrep_sync_wait`` that ``setting`` asks
    for, when the server is a Galera node (two short statements per new connection)."""
    if not is_mysql(engine.url):
        return

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(GALERA_VARIABLES)
            value = sync_wait_for(dict(cursor.fetchall()), setting)
            if value is not None:
                cursor.execute(f"SET SESSION wsrep_sync_wait = {int(value)}")
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)

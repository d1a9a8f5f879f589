"""Count the write conflicts a table's shape causes on a Galera cluster: the measurements behind
the idempotency_keys table and the purge's retries (README, "Running on a cluster").

    scripts/galera-cluster.sh start
    .venv/bin/python -m bench.galera_conflicts

Each run makes tables shaped like ``messages`` in a database of its own
(``messaging_bench_conflicts``) and counts transactions rolled back for a conflict (MySQL error
1213, a failed certification or an abort by a replicated write):

- inserts without an idempotency key: six clients, two per node, for ``CONFLICT_SECONDS``
  each, into a table with the unique ``(account_id, idempotency_key)`` index that
  ``messages`` had before migration 0006, and into one without it;
- a purge of 3,000 old rows in batches of 100 on node 1 (select the ids, delete them) while
  four clients insert into the same account through nodes 2 and 3: with the old key columns,
  with today's shape, and with today's shape less the FULLTEXT index.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pymysql

DATABASE = "messaging_bench_conflicts"
SECONDS = float(os.environ.get("CONFLICT_SECONDS", "10"))
PURGE_ROWS = 3000
PURGE_BATCH = 100
CLUSTER_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "galera-cluster.sh"
DEADLOCK = 1213

COLUMNS = (
    "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, message_id CHAR(36) NOT NULL,"
    " account_id BIGINT NOT NULL, sender_number VARCHAR(16) NOT NULL,"
    " receiver_number VARCHAR(16) NOT NULL, message_text TEXT, created_at DATETIME(6) NOT NULL,"
    " UNIQUE KEY (message_id), KEY (account_id, id), KEY (sender_number, id),"
    " KEY (receiver_number, id), KEY (created_at)"
)
OLD_KEY_COLUMNS = (
    ", idempotency_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin,"
    " request_hash CHAR(64), UNIQUE KEY (account_id, idempotency_key)"
)
FULLTEXT = ", FULLTEXT KEY (message_text)"
TABLES = {
    "with_key_columns": COLUMNS + OLD_KEY_COLUMNS + FULLTEXT,
    "keys_elsewhere": COLUMNS + FULLTEXT,
    "no_fulltext": COLUMNS,
}
INSERT = (
    "INSERT INTO {table} (message_id, account_id, sender_number, receiver_number, message_text,"
    " created_at) VALUES (UUID(), 7, '+15551230001', '+15559870001', 'hello', NOW(6))"
)


def port(node: int) -> int:
    url = subprocess.run(
        [str(CLUSTER_SCRIPT), "url", str(node), ""], capture_output=True, text=True, check=True
    ).stdout.strip()
    return int(url.rsplit(":", 1)[1].split("/")[0])


def connect(node: int) -> pymysql.Connection:
    return pymysql.connect(host="127.0.0.1", port=port(node), user="root", database=DATABASE)


def attempt(connection: pymysql.Connection, work: Callable[[pymysql.cursors.Cursor], None]) -> bool:
    """Run ``work`` and commit; False when a conflict rolled it back."""
    try:
        with connection.cursor() as cursor:
            work(cursor)
        connection.commit()
        return True
    except pymysql.err.OperationalError as error:
        if error.args[0] != DEADLOCK:
            raise
        connection.rollback()
        return False


def keep_inserting(node: int, table: str, stop: threading.Event, counts: dict[str, int]) -> None:
    connection = connect(node)
    while not stop.is_set():
        committed = attempt(connection, lambda cursor: cursor.execute(INSERT.format(table=table)))
        counts["committed" if committed else "conflicts"] += 1
    connection.close()


def inserts_only(table: str) -> dict[str, int]:
    counts = {"committed": 0, "conflicts": 0}
    stop = threading.Event()
    clients = [
        threading.Thread(target=keep_inserting, args=(node, table, stop, counts))
        for node in (1, 2, 3, 1, 2, 3)
    ]
    for client in clients:
        client.start()
    time.sleep(SECONDS)
    stop.set()
    for client in clients:
        client.join()
    return counts


def purge_under_inserts(table: str) -> dict[str, int]:
    purger = connect(1)
    with purger.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (message_id, account_id, sender_number, receiver_number,"
            " created_at) SELECT UUID(), 7, '+15551230001', '+15559870001',"
            f" NOW(6) - INTERVAL 2 DAY FROM seq_1_to_{PURGE_ROWS}"
        )
    purger.commit()
    inserts = {"committed": 0, "conflicts": 0}
    stop = threading.Event()
    clients = [
        threading.Thread(target=keep_inserting, args=(node, table, stop, inserts))
        for node in (2, 3, 2, 3)
    ]
    for client in clients:
        client.start()
    purge = {"batches": 0, "conflicts": 0}
    while True:
        with purger.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {table} WHERE created_at < NOW() - INTERVAL 1 DAY"
                f" ORDER BY id LIMIT {PURGE_BATCH}"
            )
            ids = [row[0] for row in cursor.fetchall()]
        purger.commit()
        if not ids:
            break
        statement = f"DELETE FROM {table} WHERE id IN ({','.join(map(str, ids))})"
        deleted = attempt(purger, lambda cursor, statement=statement: cursor.execute(statement))
        purge["batches" if deleted else "conflicts"] += 1
    stop.set()
    for client in clients:
        client.join()
    purger.close()
    return purge


def main() -> int:
    admin = pymysql.connect(host="127.0.0.1", port=port(1), user="root", autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cursor.execute(f"CREATE DATABASE {DATABASE}")
        for table, columns in TABLES.items():
            cursor.execute(f"CREATE TABLE {DATABASE}.{table} ({columns}) ENGINE=InnoDB")
    print(f"inserts without a key, six clients over three nodes, {SECONDS:.0f} s each:")
    for table in ("with_key_columns", "keys_elsewhere"):
        counts = inserts_only(table)
        print(f"  {table:18} {counts['committed']:7,} committed {counts['conflicts']:7,} conflicts")
    print(f"purge of {PURGE_ROWS:,} rows in batches of {PURGE_BATCH}, four clients inserting:")
    for table in TABLES:
        purge = purge_under_inserts(table)
        print(f"  {table:18} {purge['batches']:3} batches, {purge['conflicts']} attempts lost")
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {DATABASE}")
    admin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

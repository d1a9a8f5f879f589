"""Measure ``init-db`` adopting a big FastAPI-service table on MariaDB, with traffic running.

    .venv/bin/python -m bench.adoption            # 1,000,000 rows
    ADOPTION_ROWS=100000 .venv/bin/python -m bench.adoption

Makes the old service's table (its exact DDL) in a database of its own
(``ADOPTION_DATABASE``, default messaging_test_legacy_adoption, on the server of
``ADOPTION_SERVER_URL``, default root at 127.0.0.1:3306), fills it server-side, then runs
``flask --app messaging init-db`` while one thread reads an account's newest rows and
another inserts with the old service's exact INSERT, each once every 20 ms. Prints
init-db's lines with the time they came, how long it took, and the longest wait each
kind of client saw: what the operators of a big table can expect during the switch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

import pymysql
from sqlalchemy.engine import URL, make_url

ROWS = int(os.environ.get("ADOPTION_ROWS", "1000000"))
DATABASE = os.environ.get("ADOPTION_DATABASE", "messaging_test_legacy_adoption")
SERVER = make_url(os.environ.get("ADOPTION_SERVER_URL", "mysql+pymysql://root@127.0.0.1:3306"))
CLIENT_PAUSE_SECONDS = 0.02
ACCOUNTS = 1000

FASTAPI_DDL = (
    "CREATE TABLE messages ("
    " id INTEGER NOT NULL AUTO_INCREMENT, message_id VARCHAR(255), account_id INTEGER,"
    " sender_number VARCHAR(255), receiver_number VARCHAR(255), PRIMARY KEY (id))",
    "CREATE INDEX ix_messages_id ON messages (id)",
    "CREATE UNIQUE INDEX ix_messages_message_id ON messages (message_id)",
    "CREATE INDEX ix_messages_account_id ON messages (account_id)",
    "CREATE INDEX ix_messages_sender_number ON messages (sender_number)",
    "CREATE INDEX ix_messages_receiver_number ON messages (receiver_number)",
)
# The numbers as the old service's clients spelt them: with spaces, dashes, dots.
FILL = (
    "INSERT INTO messages (message_id, account_id, sender_number, receiver_number)"
    " SELECT UUID(), 1 + seq % {accounts},"
    " CONCAT('+1 555-', LPAD(seq % 9973, 4, '0')),"
    " CONCAT('555.', LPAD(seq % 997, 3, '0'), '.', LPAD(seq % 9967, 4, '0'))"
    " FROM seq_{first}_to_{last}"
)
FILL_BATCH = 100_000
FASTAPI_INSERT = (
    "INSERT INTO messages (message_id, account_id, sender_number, receiver_number)"
    " VALUES (%s, %s, %s, %s)"
)
READ = "SELECT id, message_id FROM messages WHERE account_id = %s ORDER BY id DESC LIMIT 100"


@dataclass
class Client:
    """One kind of traffic during the upgrade: how often it ran and its longest wait."""

    name: str
    count: int = 0
    errors: list[str] = field(default_factory=list)
    longest: float = 0.0
    longest_at: float = 0.0


def connect(database: str | None = None) -> pymysql.Connection:
    return pymysql.connect(
        host=SERVER.host or "127.0.0.1",
        port=SERVER.port or 3306,
        user=SERVER.username or "root",
        password=SERVER.password or "",
        database=database,
        autocommit=True,
        charset="utf8mb4",
    )


def make_old_table() -> None:
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
        cursor.execute(f"CREATE DATABASE `{DATABASE}`")
        cursor.execute(f"USE `{DATABASE}`")
        for statement in FASTAPI_DDL:
            cursor.execute(statement)
        started = time.monotonic()
        for first in range(1, ROWS + 1, FILL_BATCH):
            last = min(first + FILL_BATCH - 1, ROWS)
            cursor.execute(FILL.format(accounts=ACCOUNTS, first=first, last=last))
            print(f"\rfilling the old table: {last:,}/{ROWS:,} rows", end="", flush=True)
        print(f" in {time.monotonic() - started:.0f} s")


def run_client(client: Client, stop: threading.Event, started: float, write: bool) -> None:
    with connect(DATABASE) as connection, connection.cursor() as cursor:
        while not stop.is_set():
            account = 1 + client.count % ACCOUNTS
            began = time.monotonic()
            try:
                if write:
                    cursor.execute(
                        FASTAPI_INSERT,
                        (str(uuid.uuid4()), account, "+1 555-000-0000", "555.000.0000"),
                    )
                else:
                    cursor.execute(READ, (account,))
                    cursor.fetchall()
            except pymysql.MySQLError as error:
                client.errors.append(str(error))
            took = time.monotonic() - began
            client.count += 1
            if took > client.longest:
                client.longest, client.longest_at = took, began - started
            time.sleep(CLIENT_PAUSE_SECONDS)


def count_rows() -> int:
    with connect(DATABASE) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM messages")
        return cursor.fetchone()[0]


def main() -> int:
    make_old_table()
    url = URL.create(
        "mysql+pymysql",
        username=SERVER.username or "root",
        password=SERVER.password,
        host=SERVER.host or "127.0.0.1",
        port=SERVER.port or 3306,
        database=DATABASE,
    )
    stop = threading.Event()
    reader, writer = Client("reader (an account's newest 100)"), Client("writer (old INSERT)")
    started = time.monotonic()
    threads = [
        threading.Thread(target=run_client, args=(client, stop, started, write))
        for client, write in ((reader, False), (writer, True))
    ]
    for thread in threads:
        thread.start()
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "messaging", "init-db"],
        env={
            **os.environ,
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "LOG_FILE": "",
            "LOG_LEVEL": "INFO",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        print(f"{time.monotonic() - started:7.1f} s  {line.rstrip()}", flush=True)
    status = process.wait()
    took = time.monotonic() - started
    time.sleep(1)  # traffic goes on a moment after the upgrade
    stop.set()
    for thread in threads:
        thread.join()

    print(f"\ninit-db on {ROWS:,} rows: exit status {status}, {took:.1f} s")
    for client in (reader, writer):
        print(
            f"{client.name}: {client.count:,} requests, {len(client.errors)} errors,"
            f" longest wait {client.longest:.2f} s (at {client.longest_at:.1f} s)"
        )
        for error in client.errors[:3]:
            print(f"  {error}")
    rows = count_rows()
    print(f"rows now: {rows:,} = {ROWS:,} old + {rows - ROWS:,} inserted during the upgrade")
    return 0 if status == 0 and rows == ROWS + writer.count - len(writer.errors) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's data: fresh databases, bulk seeding with a progress bar, query targets.

Rows are spread over a fixed set of accounts and sender numbers whatever the table size,
so the 10,000-row and 1,000,000-row tables answer every benchmark request with the same
amount of data: a full first page. Only the table size differs between the two.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymysql
from sqlalchemy.engine import URL

from bench.servers import REPOSITORY, run_in_checkout
from messaging.pagination import encode_cursor

ACCOUNTS = 64
ACCOUNT_ID_BASE = 1_000
SENDERS = 40
RECEIVERS = 10_000
SEARCH_SENDERS = 10
# MariaDB's default max_allowed_packet (16 MiB) holds about 80,000 of these rows.
ROWS_PER_INSERT = 5_000
SEED_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
# Fixed texts: typical lengths, one with an emoji so four-byte UTF-8 is part of the load.
TEXTS = (
    "Your verification code is 481516. It expires in 10 minutes.",
    "Running 5 min late, see you at the cafe",
    "Reminder: your appointment is tomorrow at 09:30. Reply C to cancel.",
    "ok 👍",
    "Your parcel 7H21-KQ will arrive between 14:00 and 16:00 today.",
    "Thanks! Payment of 42.50 received.",
    "Call me when you land",
)
TEXT_NULL_EVERY = 10
PROGRESS_WIDTH = 30


def account_ids() -> list[int]:
    return [ACCOUNT_ID_BASE + index for index in range(ACCOUNTS)]


def sender_number(index: int) -> str:
    return f"+1555000{index:04d}"


def receiver_number(index: int) -> str:
    return f"+1555{index:07d}"


def connect(server: URL, database: str | None = None) -> pymysql.Connection:
    return pymysql.connect(
        host=server.host or "127.0.0.1",
        port=server.port or 3306,
        user=server.username or "root",
        password=server.password or "",
        database=database,
        charset="utf8mb4",
        autocommit=True,
    )


def execute(server: URL, database: str, sql: str) -> None:
    """Run ``sql`` (statements separated by ``;``) on ``database``."""
    with connect(server, database) as connection, connection.cursor() as cursor:
        for statement in filter(None, (part.strip() for part in sql.split(";"))):
            cursor.execute(statement)


def create_database(
    server: URL, database: str, app_environment: dict[str, str], checkout: Path = REPOSITORY
) -> None:
    """Drop and create ``database``, then bring it to the newest migration with the ``init-db``
    of the service in ``checkout``."""
    with connect(server) as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        cursor.execute(
            f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
    flask = Path(sys.executable).with_name("flask")
    run_in_checkout(
        [str(flask), "--app", "messaging", "init-db", "--wait", "10"],
        checkout,
        app_environment,
        timeout=120,
        what=f"init-db for {database}",
    )


def message_id(moment_ms: int, sequence: int) -> str:
    """A UUID v7 text for a seeded row: the time, then the sequence where random bits go."""
    high = f"{moment_ms:012x}"
    low = f"{sequence:015x}"
    return f"{high[:8]}-{high[8:]}-7{low[:3]}-{8 | (sequence & 3):x}{low[3:6]}-{low[6:]}000"


def seed_rows(first: int, count: int, rng: random.Random) -> Iterator[str]:
    """SQL value tuples for rows ``first`` … ``first + count - 1``; all values are literals
    made here from digits and the fixed texts, so no escaping is needed."""
    accounts = account_ids()
    for sequence in range(first, first + count):
        moment = SEED_EPOCH + timedelta(milliseconds=sequence * 10)
        moment_ms = int(moment.timestamp() * 1000)
        text = "NULL" if sequence % TEXT_NULL_EVERY == 0 else f"'{rng.choice(TEXTS)}'"
        yield (
            f"('{message_id(moment_ms, sequence)}',{rng.choice(accounts)},"
            f"'{sender_number(rng.randrange(SENDERS))}',"
            f"'{receiver_number(rng.randrange(RECEIVERS))}',{text},"
            f"'{moment:%Y-%m-%d %H:%M:%S.%f}')"
        )


def progress(label: str, done: int, total: int, started: float) -> None:
    filled = PROGRESS_WIDTH * done // total
    bar = "#" * filled + "-" * (PROGRESS_WIDTH - filled)
    end = "\n" if done >= total else ""
    print(
        f"\r  {label} [{bar}] {100 * done // total:3d}% {done:>9,}/{total:,} rows"
        f"  {time.monotonic() - started:5.1f} s",
        end=end,
        file=sys.stderr,
        flush=True,
    )


def seed(server: URL, database: str, total: int, *, seed_value: int = 5) -> float:
    """Fill ``messages`` with ``total`` rows in multi-row INSERTs; returns the seconds taken."""
    rng = random.Random(seed_value)
    started = time.monotonic()
    label = f"seeding {database}"
    with connect(server, database) as connection, connection.cursor() as cursor:
        cursor.execute("SET SESSION unique_checks = 0")
        done = 0
        progress(label, done, total, started)
        while done < total:
            count = min(ROWS_PER_INSERT, total - done)
            values = ",".join(seed_rows(done, count, rng))
            cursor.execute(
                "INSERT INTO messages (message_id, account_id, sender_number,"
                f" receiver_number, message_text, created_at) VALUES {values}"
            )
            done += count
            progress(label, done, total, started)
        cursor.execute("ANALYZE TABLE messages")
    return time.monotonic() - started


@dataclass(frozen=True)
class Targets:
    """What the benchmark requests ask for, read back from a seeded table."""

    accounts: list[int]
    deep_cursors: dict[int, str]
    senders: list[str]
    message_ids: list[str]


def read_targets(server: URL, database: str, sample: int = 2_000) -> Targets:
    """Accounts, a cursor half-way down each account's history, senders and stored ids."""
    accounts = account_ids()
    deep_cursors: dict[int, str] = {}
    with connect(server, database) as connection, connection.cursor() as cursor:
        for account in accounts:
            cursor.execute("SELECT COUNT(*) FROM messages WHERE account_id = %s", (account,))
            (count,) = cursor.fetchone()
            cursor.execute(
                "SELECT id FROM messages WHERE account_id = %s ORDER BY id DESC LIMIT 1 OFFSET %s",
                (account, count // 2),
            )
            row = cursor.fetchone()
            if row:
                deep_cursors[account] = encode_cursor(row[0])
        cursor.execute("SELECT MAX(id) FROM messages")
        (last,) = cursor.fetchone()
        ids = random.Random(7).sample(range(1, last + 1), min(sample, last))
        cursor.execute(
            "SELECT message_id FROM messages WHERE id IN ({})".format(",".join(map(str, ids)))
        )
        message_ids = [row[0] for row in cursor.fetchall()]
    return Targets(
        accounts=accounts,
        deep_cursors=deep_cursors,
        senders=[sender_number(index) for index in range(SENDERS)],
        message_ids=message_ids,
    )

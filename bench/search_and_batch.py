"""Text search and batch create in ``make bench``: their request files, the copy of the large
table without the text index, the runs and their section of the report.

- One-word text searches within one account on the large table: p50 and p99.
- Creates against the large table with and without its FULLTEXT index, alternated: what the
  index costs a create (the copy is made once per run, from the seeded table).
- Batches of ``BATCH_SIZE`` messages against the service and against the floor app's batch
  endpoint (the same rows as one multi-row INSERT and nothing else), alternated: messages
  stored per second, beside the service's single creates.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import URL

from bench import workload
from bench.dataset import RECEIVERS, Targets, connect, receiver_number
from bench.report import FLOOR_RATIO_TARGET, Runs, ratio, table, verdict
from bench.servers import Server

BATCH_SIZE = 1000
# Distinct bodies wrk cycles through; each is about 250 KB.
BATCH_BODIES = 40
TEXT_SEARCHES = 2_000
# A word from each of several seeded texts: how often a word occurs changes what a search costs.
SEARCH_WORDS = ("verification", "late", "appointment", "parcel", "payment", "land")
BATCH_TEXTS = (
    "Your verification code is 481516. It expires in 10 minutes.",
    "Reminder: your appointment is tomorrow at 09:30. Reply C to cancel.",
    "Your parcel 7H21-KQ will arrive between 14:00 and 16:00 today.",
    "Thanks! Payment of 42.50 received.",
    "ok 👍",
)
FULLTEXT_INDEX = "ft_messages_message_text"
# The body limit the services run with: a batch of these texts is about 250 KB (README).
MAX_CONTENT_LENGTH = str(2 * 1024 * 1024)
PLAIN_SUFFIX = "_no_text_index"


class Bench(Protocol):
    def alternate(self, sides: list[tuple[Server, Path]]) -> list[Runs]: ...
    def repeat(self, server: Server, requests_file: Path) -> Runs: ...
    def warm_up(self, server: Server, requests_file: Path) -> None: ...


def text_search_lines(targets: Targets, count: int = TEXT_SEARCHES) -> list[str]:
    """``GET /v1/search?account_id=…&q=<one word>``, accounts and words at random."""
    rng = random.Random(21)
    return [
        f"GET /v1/search?account_id={rng.choice(targets.accounts)}&q={rng.choice(SEARCH_WORDS)}"
        for _ in range(count)
    ]


def batch_lines(targets: Targets, count: int = BATCH_BODIES) -> list[str]:
    """``POST /v1/create/batch`` bodies of ``BATCH_SIZE`` messages, one account each."""
    rng = random.Random(22)
    lines = []
    for _ in range(count):
        account = rng.choice(targets.accounts)
        messages = [
            {
                "account_id": account,
                "sender_number": rng.choice(targets.senders),
                "receiver_number": receiver_number(rng.randrange(RECEIVERS)),
                "message_text": rng.choice(BATCH_TEXTS),
            }
            for _ in range(BATCH_SIZE)
        ]
        body = json.dumps({"messages": messages}, ensure_ascii=False, separators=(",", ":"))
        lines.append(f"POST /v1/create/batch {body}")
    return lines


def copy_without_text_index(server: URL, source: str) -> str:
    """A copy of ``source`` (every table, every row) whose messages have no FULLTEXT index."""
    target = f"{source}{PLAIN_SUFFIX}"
    with connect(server) as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{target}`")
        cursor.execute(
            f"CREATE DATABASE `{target}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (source,),
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"CREATE TABLE `{target}`.`{name}` LIKE `{source}`.`{name}`")
            if name == "messages":
                cursor.execute(f"ALTER TABLE `{target}`.messages DROP INDEX {FULLTEXT_INDEX}")
            cursor.execute(f"INSERT INTO `{target}`.`{name}` SELECT * FROM `{source}`.`{name}`")
        cursor.execute(f"ANALYZE TABLE `{target}`.messages")
    return target


def row_count(server: URL, database: str) -> int:
    with connect(server, database) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM messages")
        return int(cursor.fetchone()[0])


def measure(
    bench: Bench,
    *,
    server: URL,
    database: str,
    targets: Targets,
    service: Server,
    floor: Server,
    start_plain_service: Callable[[str], Server],
    workdir: Path,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Every run of this module; the service and the floor serve ``database``."""
    files = {
        "text": workload.write(workdir / "text-search.txt", text_search_lines(targets)),
        "batch": workload.write(workdir / "batch.txt", batch_lines(targets)),
        "create": workload.write(workdir / "create-ab.txt", workload.create_lines(targets)),
    }
    rows = row_count(server, database)
    say(f"text search: one word within one account, {rows:,} rows")
    bench.warm_up(service, files["text"])
    text = bench.repeat(service, files["text"])

    say("copying the large table without its text index")
    plain = start_plain_service(copy_without_text_index(server, database))
    bench.warm_up(plain, files["create"])
    say("create: with the text index, and without it")
    with_index, without_index = bench.alternate(
        [(service, files["create"]), (plain, files["create"])]
    )

    say(f"batches of {BATCH_SIZE:,}: service and floor")
    bench.warm_up(service, files["batch"])
    bench.warm_up(floor, files["batch"])
    batch, batch_floor = bench.alternate([(service, files["batch"]), (floor, files["batch"])])
    return {
        "rows": rows,
        "text_search": text.as_dict(),
        "create_with_text_index": with_index.as_dict(),
        "create_without_text_index": without_index.as_dict(),
        "batch": batch.as_dict(),
        "batch_floor": batch_floor.as_dict(),
        "ratios": {
            "create with/without text index": round(ratio(with_index.rate, without_index.rate), 3),
            "batch/floor (messages/s)": round(ratio(batch.rate, batch_floor.rate), 3),
            "batch/single create (messages/s)": round(
                ratio(batch.rate * BATCH_SIZE, with_index.rate), 3
            ),
        },
    }


def render(results: dict[str, Any]) -> str:
    """The report's section on text search and batch create."""
    ratios = results["ratios"]
    batch_ratio = ratios["batch/floor (messages/s)"]
    messages = {name: results[name]["rate"] * BATCH_SIZE for name in ("batch", "batch_floor")}
    lines = [
        f"### Text search and batch create ({results['rows']:,} rows)",
        "",
        table(
            [
                ("text search, one word, one account", results["text_search"], ""),
                ("create, with the text index", results["create_with_text_index"], ""),
                ("create, without the text index", results["create_without_text_index"], ""),
                (f"batch of {BATCH_SIZE:,} (req/s)", results["batch"], ""),
                (f"batch of {BATCH_SIZE:,}, floor (req/s)", results["batch_floor"], ""),
            ]
        ),
        "",
        f"- messages/s: batches {messages['batch']:,.0f}, floor {messages['batch_floor']:,.0f},"
        f" single creates {results['create_with_text_index']['rate']:,.0f}",
        f"- create throughput with/without the text index ="
        f" {ratios['create with/without text index']:.2f}",
        f"- batch messages/s, service/floor = {batch_ratio:.2f}"
        f" (target >= {FLOOR_RATIO_TARGET}): {verdict(batch_ratio >= FLOOR_RATIO_TARGET)}",
        f"- batch/single create, messages/s = {ratios['batch/single create (messages/s)']:.1f}",
        "",
    ]
    return "\n".join(lines)

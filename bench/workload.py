"""The request files wrk replays: one ``METHOD path [JSON body]`` per line, varied ids."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from itertools import cycle, islice
from pathlib import Path
from urllib.parse import quote

from bench.dataset import (
    RECEIVERS,
    SEARCH_SENDERS,
    TEXTS,
    Targets,
    receiver_number,
)

CREATE_BODIES = 20_000
SEARCHES = 2_000
MIXED_REQUESTS = 20_000


def create_lines(targets: Targets, count: int = CREATE_BODIES) -> list[str]:
    rng = random.Random(11)
    lines = []
    for _ in range(count):
        body = {
            "account_id": rng.choice(targets.accounts),
            "sender_number": rng.choice(targets.senders),
            "receiver_number": receiver_number(rng.randrange(RECEIVERS)),
        }
        if rng.random() < 0.9:
            body["message_text"] = rng.choice(TEXTS)
        lines.append("POST /v1/create " + json.dumps(body, ensure_ascii=False))
    return lines


def list_lines(targets: Targets) -> list[str]:
    accounts = list(targets.accounts)
    random.Random(12).shuffle(accounts)
    return [f"GET /v1/get/messages/{account}" for account in accounts]


def deep_page_lines(targets: Targets) -> list[str]:
    return [
        f"GET /v1/get/messages/{account}?cursor={cursor}"
        for account, cursor in sorted(targets.deep_cursors.items())
    ]


def search_lines(targets: Targets, count: int = SEARCHES) -> list[str]:
    rng = random.Random(13)
    return [
        "GET /v1/search?sender_number="
        + quote(",".join(rng.sample(targets.senders, SEARCH_SENDERS)), safe=",")
        for _ in range(count)
    ]


def get_lines(targets: Targets) -> list[str]:
    return [f"GET /v1/messages/{message_id}" for message_id in targets.message_ids]


def mixed_lines(*kinds: list[str], count: int = MIXED_REQUESTS) -> list[str]:
    """Every kind in turn, each cycling through its own lines."""
    streams = [cycle(lines) for lines in kinds if lines]
    return [next(stream) for stream in islice(cycle(streams), count)]


def write(path: Path, lines: Iterable[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path

"""bench/search_and_batch.py: the request files and report section of its runs."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from bench import dataset, search_and_batch
from bench.dataset import Targets
from messaging.schemas import MessageBatchCreateSchema, SearchArgsSchema

TARGETS = Targets(
    accounts=dataset.account_ids(),
    deep_cursors={},
    senders=[dataset.sender_number(index) for index in range(dataset.SENDERS)],
    message_ids=[],
)


def test_batch_bodies_are_valid_batches_of_1000_within_the_body_limit():
    lines = search_and_batch.batch_lines(TARGETS, count=3)
    for line in lines:
        method, path, body = line.split(" ", 2)
        assert (method, path) == ("POST", "/v1/create/batch")
        assert len(body.encode()) < int(search_and_batch.MAX_CONTENT_LENGTH)
        loaded = MessageBatchCreateSchema().load(json.loads(body))
        assert len(loaded["messages"]) == search_and_batch.BATCH_SIZE == 1000
        assert len({item["account_id"] for item in loaded["messages"]}) == 1


def test_text_searches_ask_for_one_seeded_word_within_one_account():
    seeded = " ".join(dataset.TEXTS).lower()
    for line in search_and_batch.text_search_lines(TARGETS, count=50):
        method, target = line.split(" ")
        query = {name: values[0] for name, values in parse_qs(urlsplit(target).query).items()}
        assert method == "GET" and urlsplit(target).path == "/v1/search"
        assert int(query["account_id"]) in TARGETS.accounts
        assert SearchArgsSchema().load(query)["q"] == [query["q"]]
        assert query["q"] in seeded


def summary(rate: float, p99: float = 10.0) -> dict:
    return {
        "rate": rate,
        "p50_ms": p99 / 2,
        "p99_ms": p99,
        "errors": 0,
        "worker_cpu_ms_per_request": 1.0,
    }


def test_report_section_gives_messages_per_second_and_the_floor_verdict():
    results = {
        "rows": 1_000_000,
        "text_search": summary(300, 42.0),
        "create_with_text_index": summary(450),
        "create_without_text_index": summary(500),
        "batch": summary(6.0),
        "batch_floor": summary(10.0),
        "ratios": {
            "create with/without text index": 0.9,
            "batch/floor (messages/s)": 0.6,
            "batch/single create (messages/s)": 13.3,
        },
    }
    section = search_and_batch.render(results)
    assert "1,000,000 rows" in section
    assert "messages/s: batches 6,000, floor 10,000, single creates 450" in section
    assert "service/floor = 0.60 (target >= 0.7): MISSED" in section
    assert "with/without the text index = 0.90" in section

"""The benchmark harness's own logic (bench/): seeded ids, request files, profile layers.

``make bench`` itself needs MariaDB, wrk and minutes; these check the parts that decide
what it measures and reports, in milliseconds.
"""

from __future__ import annotations

import random
import uuid

from bench import cpu_profile, dataset, workload
from bench.load import Result
from bench.report import Runs, table


def test_seeded_message_ids_are_time_ordered_uuid7():
    ids = [dataset.message_id(1_767_225_600_000 + n, n) for n in range(0, 5000, 7)]
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_seeded_rows_spread_over_the_fixed_accounts_and_senders():
    rows = list(dataset.seed_rows(0, 2000, random.Random(1)))
    accounts = {int(row.split(",")[1]) for row in rows}
    assert accounts == set(dataset.account_ids())
    senders = {row.split(",")[2].strip("'") for row in rows}
    assert senders == {dataset.sender_number(index) for index in range(dataset.SENDERS)}


def test_mixed_requests_take_every_kind_in_turn():
    lines = workload.mixed_lines(["a1", "a2"], [], ["b1"], count=5)
    assert lines == ["a1", "b1", "a2", "b1", "a1"]


def test_search_requests_ask_for_ten_distinct_senders():
    targets = dataset.Targets(
        accounts=dataset.account_ids(),
        deep_cursors={},
        senders=[dataset.sender_number(index) for index in range(dataset.SENDERS)],
        message_ids=[],
    )
    for line in workload.search_lines(targets, count=50):
        method, path = line.split(" ")
        numbers = path.split("sender_number=")[1].split(",")
        assert method == "GET"
        assert len(set(numbers)) == dataset.SEARCH_SENDERS
        assert all(number.startswith("%2B1555") for number in numbers)


def test_profile_charges_library_frames_to_the_layer_that_called_them():
    raw = "\n".join(
        [
            "run (gunicorn/arbiter.py:1);handle_request (gunicorn/workers/sync.py:2);"
            "dispatch (flask/app.py:3);execute (sqlalchemy/engine/base.py:4);"
            "sub (re/__init__.py:5) 30",
            "run (gunicorn/arbiter.py:1);handle_request (gunicorn/workers/sync.py:2);"
            "emit (messaging/logs.py:6);format (logging/__init__.py:7) 10",
            "run (gunicorn/arbiter.py:1);accept (gunicorn/workers/sync.py:7) 500",
        ]
    )
    counts = cpu_profile.layers(raw)
    assert counts == {
        "SQLAlchemy (session, pool, pre-ping, execution)": 30,
        "logging": 10,
    }


def test_report_table_averages_rounds_and_sums_errors():
    runs = Runs()
    runs.add(Result(requests=1000, seconds=1.0, p50_ms=2.0, p99_ms=10.0, errors=0), 0.5)
    runs.add(Result(requests=3000, seconds=1.0, p50_ms=4.0, p99_ms=20.0, errors=2), 1.5)
    assert runs.rate == 2000
    assert runs.p99_ms == 15.0
    assert runs.errors == 2
    assert runs.cpu_ms_per_request == 0.5
    rendered = table([("create", runs, ""), ("get by id", None, "skipped: no route")])
    assert "| create | 2,000 | 3.00 | 15.00 | 2 | 0.50 |" in rendered
    assert "| get by id | skipped: no route |" in rendered

"""The query planner in search.py: right answers for every filter combination, each on an index."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, text

from messaging.extensions import db
from messaging.models import Message
from messaging.search import SearchFilters, search_messages, search_statement

ROWS = 3000
ACCOUNTS = 40
NUMBERS = 150
START = datetime(2025, 1, 1)
STEP = timedelta(minutes=97)
LIMIT = 50


@pytest.fixture
def rows(app):
    """A table with enough rows and distinct values for the planner to behave as at scale."""
    rng = random.Random(20261125)
    rows = [
        {
            "message_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "account_id": rng.randint(1, ACCOUNTS),
            "sender_number": f"+1555{rng.randrange(NUMBERS):07d}",
            "receiver_number": f"+1666{rng.randrange(NUMBERS):07d}",
            "message_text": None,
            # Creation times grow with ids, except every tenth row, made as if by a
            # server whose clock is behind: no query may assume they agree.
            "created_at": START + (n - 40 * (n % 10 == 0)) * STEP,
        }
        for n in range(ROWS)
    ]
    with app.app_context():
        db.session.execute(insert(Message), rows)
        db.session.commit()
        if db.engine.dialect.name == "mysql":
            db.session.execute(text("ANALYZE TABLE messages")).all()
        else:
            db.session.execute(text("ANALYZE"))
        db.session.commit()
        ids = db.session.scalars(db.select(Message.id).order_by(Message.id)).all()
    for row, row_id in zip(rows, ids, strict=True):
        row["id"] = row_id
    return rows


def filter_combinations(rows):
    """Every subset of the filters, each list with one value and with several."""
    newest, oldest = rows[-1], rows[0]
    values = {
        "message_ids": lambda n: [r["message_id"] for r in rows[-n * 7 :: 7]],
        "account_ids": lambda n: list(range(1, n + 1)),
        "sender_numbers": lambda n: (
            [newest["sender_number"]] + [f"+1555{k:07d}" for k in range(n - 1)]
        ),
        "receiver_numbers": lambda n: (
            [oldest["receiver_number"]] + [f"+1666{k:07d}" for k in range(n - 1)]
        ),
    }
    middle = START + STEP * (ROWS // 2)
    times = [
        {},
        {"created_after": middle},
        {"created_before": middle},
        {"created_after": middle - 30 * STEP, "created_before": middle + 300 * STEP},
        # near one end, where the range's ids are looked up first
        {"created_before": START + 400 * STEP},
        {"created_after": START + 2600 * STEP},
        {"created_after": START + 100 * STEP, "created_before": START + 500 * STEP},
        # outside everything stored
        {"created_before": START - 50 * STEP},
        {"created_after": START + ROWS * STEP},
    ]
    for size in range(len(values) + 1):
        for names in itertools.combinations(values, size):
            for count in (1, 4) if names else (0,):
                for time in times:
                    yield {**{name: values[name](count) for name in names}, **time}


def expected(rows, filters, before=None):
    def matches(row):
        return (
            (before is None or row["id"] < before)
            and all(
                row[column] in filters[name]
                for name, column in (
                    ("message_ids", "message_id"),
                    ("account_ids", "account_id"),
                    ("sender_numbers", "sender_number"),
                    ("receiver_numbers", "receiver_number"),
                )
                if name in filters
            )
            and row["created_at"] >= filters.get("created_after", datetime.min)
            and row["created_at"] < filters.get("created_before", datetime.max)
        )

    return [row["message_id"] for row in sorted(rows, key=lambda r: -r["id"]) if matches(row)]


def test_search_finds_exactly_the_matching_rows_newest_first(app, rows):
    middle_id = rows[ROWS // 2]["id"]
    with app.app_context():
        for filters in filter_combinations(rows):
            for before in (None, middle_id):
                found = search_messages(SearchFilters(**filters), LIMIT, before).messages
                assert [m.message_id for m in found] == expected(rows, filters, before)[:LIMIT], (
                    filters,
                    before,
                )


def test_search_repeated_values_do_not_repeat_rows(app, rows):
    account = rows[-1]["account_id"]
    with app.app_context():
        found = search_messages(SearchFilters(account_ids=[account, account, account + 1]), LIMIT)
        assert [m.message_id for m in found.messages] == expected(
            rows, {"account_ids": [account, account + 1]}
        )[:LIMIT]


def explain(statement_and_params):
    statement, params = statement_and_params
    dialect = db.engine.dialect
    sql = str(
        statement.params(params).compile(
            dialect=dialect, compile_kwargs={"literal_binds": True, "render_postcompile": True}
        )
    )
    prefix = "EXPLAIN " if dialect.name == "mysql" else "EXPLAIN QUERY PLAN "
    return [row._asdict() for row in db.session.execute(text(prefix + sql))]


def test_searches_of_one_shape_share_one_statement_and_bind_their_values(app, rows):
    senders = sorted({r["sender_number"] for r in rows})
    with app.app_context():
        first, first_params = search_statement(SearchFilters(sender_numbers=senders[:3]), LIMIT)
        second, second_params = search_statement(SearchFilters(sender_numbers=senders[3:6]), LIMIT)
        four, _ = search_statement(SearchFilters(sender_numbers=senders[:4]), LIMIT)
        found = search_messages(SearchFilters(sender_numbers=senders[3:6]), LIMIT).messages
    assert first is second
    assert first_params != second_params
    assert four is not first  # a branch per value: another number of values, another shape
    expected = [r for r in rows if r["sender_number"] in senders[3:6]]
    assert [m.message_id for m in found] == [r["message_id"] for r in expected[::-1][:LIMIT]]


def test_every_search_combination_is_served_by_an_index(app, rows):
    """No filter combination reads the whole table, or sorts more than it must.

    On MariaDB every access to ``messages`` goes through an index; a walk of a
    whole index (``type`` index) must be one in ``id`` order that the LIMIT stops,
    never one that is then sorted. On SQLite, a table scan happens only in rowid
    order for a search without value lists, which the LIMIT likewise stops.
    """
    with app.app_context():
        for filters in filter_combinations(rows):
            plan = explain(search_statement(SearchFilters(**filters), LIMIT + 1))
            has_lists = any(not name.startswith("created_") for name in filters)
            if db.engine.dialect.name == "mysql":
                for step in plan:
                    if step["table"] is None:
                        assert "Impossible WHERE" in step["Extra"], (filters, plan)
                        continue
                    if step["table"].startswith("<"):
                        continue  # a derived table: the few ids the branches found
                    assert step["type"] != "ALL", (filters, plan)
                    assert step["key"], (filters, plan)
                    if step["type"] == "index":
                        assert step["key"] == "PRIMARY", (filters, plan)
                        assert "filesort" not in step["Extra"], (filters, plan)
            else:
                details = [step["detail"] for step in plan]
                scans = [d for d in details if d.startswith("SCAN messages")]
                if has_lists:
                    assert not scans, (filters, details)
                else:
                    assert all("USING INDEX" not in d for d in scans), (filters, details)
                    if scans:
                        assert "USE TEMP B-TREE FOR ORDER BY" not in details, (filters, details)


def test_lists_of_several_values_read_each_value_in_index_order(app, rows):
    """``IN (a, b) ORDER BY id DESC`` is split so each value's index range is read newest first."""
    with app.app_context():
        plan = explain(search_statement(SearchFilters(account_ids=[1, 2, 3]), LIMIT + 1))
        if db.engine.dialect.name == "mysql":
            reads = [
                step for step in plan if step["table"] == "messages" and step["key"] != "PRIMARY"
            ]
            assert len(reads) == 3
            for step in reads:
                assert step["key"] == "ix_messages_account_id_id"
                assert step["type"] == "ref"
                assert "filesort" not in step["Extra"]
        else:
            details = [step["detail"] for step in plan]
            reads = [d for d in details if d.startswith("SEARCH messages USING COVERING INDEX")]
            assert len(reads) == 3
            assert all("ix_messages_account_id_id (account_id=?)" in d for d in reads)

"""Reading messages: one by its id, and every list (an account's pages, searches) through
one query planner that keeps each filter combination on an index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Integer, Select, bindparam, func, select, union_all

from messaging.connections import current_connection
from messaging.legacy_values import message_id_spellings, number_spellings
from messaging.models import MESSAGE_COLUMNS, Message
from messaging.records import MessageRecord, Page
from messaging.text_search import TEXT_QUERY_PARAMETER, text_condition, text_query

# Ids start at 1: ``id <= NO_ID`` is an empty range every query planner reads as one.
NO_ID = 0
# The most index entries a search scans to turn its time range into an id range
# when value lists narrow it already (about 30 ms on the machine it was measured on).
TIME_RANGE_SCAN_MAX_ROWS = 250_000

# A list reads each row's id (where the next page starts) and the record's columns:
# table rows, not ORM objects, since nothing on a page is ever changed.
PAGE_COLUMNS = (Message.id, *MESSAGE_COLUMNS)
# The columns a list filters on, by the names of their value lists.
LIST_COLUMNS = {
    "message_id": Message.message_id,
    "sender_number": Message.sender_number,
    "receiver_number": Message.receiver_number,
    "account_id": Message.account_id,
}
# Statements kept, one per query shape: the shapes in use are a few dozen.
STATEMENTS_KEPT = 512

# Built once, their values bound at each execution: a lookup by id, anywhere or within
# the listed accounts.
_BY_ID = select(*MESSAGE_COLUMNS).where(
    Message.message_id.in_(bindparam("message_ids", expanding=True))
)
_GET_STATEMENTS = {
    False: _BY_ID,
    True: _BY_ID.where(Message.account_id.in_(bindparam("account_ids", expanding=True))),
}
# The oldest and newest creation times, and the smallest and largest id, of the table.
STORED_TIMES_AND_IDS = select(
    select(func.min(Message.created_at)).scalar_subquery(),
    select(func.max(Message.created_at)).scalar_subquery(),
    select(func.min(Message.id)).scalar_subquery(),
    select(func.max(Message.id)).scalar_subquery(),
)


class IdRange(Enum):
    """What a time range adds to a list's walk along ``id`` (see ``time_range_ids``)."""

    NONE = "none"  # nothing: the walk is not worth bounding
    BOUNDED = "bounded"  # first_id <= id <= last_id
    EMPTY = "empty"  # no message was created in the range


@dataclass(frozen=True)
class SearchFilters:
    """What a list asks for: a message matches when it is in every list given (IN within a
    list, AND across lists) and was created in ``[created_after, created_before)``.

    None means no filter; an empty list matches nothing.
    """

    message_ids: Sequence[str] | None = None
    account_ids: Sequence[int] | None = None
    sender_numbers: Sequence[str] | None = None
    receiver_numbers: Sequence[str] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    # Words the message text must all hold (``q``, split at white space).
    text_words: Sequence[str] | None = None

    def match_nothing(self) -> bool:
        lists = (self.message_ids, self.account_ids, self.sender_numbers, self.receiver_numbers)
        return any(values is not None and len(values) == 0 for values in lists)


def get_message(message_id: str, account_ids: Sequence[int] | None = None) -> MessageRecord | None:
    """The message with this id, or None; ``account_ids`` confines the lookup."""
    params: dict[str, Any] = {"message_ids": message_id_spellings(message_id)}
    if account_ids is not None:
        params["account_ids"] = account_ids
    # first(): on SQLite an old table may hold one id in both letter cases.
    row = current_connection().execute(_GET_STATEMENTS[account_ids is not None], params).first()
    return None if row is None else MessageRecord(*row)


def search_messages(filters: SearchFilters, limit: int, before: int | None = None) -> Page:
    """Up to ``limit`` matching messages below the ``before`` id, newest first.

    One row more than the page is read: its presence is how a next page is known to exist.
    """
    if filters.match_nothing():
        return Page([], None)
    filters = with_stored_spellings(filters)
    statement, params = search_statement(filters, limit + 1, before)
    rows = current_connection().execute(statement, params).all()
    messages = [MessageRecord(*row[1:]) for row in rows[:limit]]
    next_before = rows[limit - 1][0] if len(rows) > limit else None
    return Page(messages, next_before)


def with_stored_spellings(filters: SearchFilters) -> SearchFilters:
    """The filters with the spellings old rows may store each value in (``legacy_values``)."""
    return replace(
        filters,
        message_ids=filters.message_ids
        and [spelling for value in filters.message_ids for spelling in message_id_spellings(value)],
        sender_numbers=number_spellings(filters.sender_numbers),
        receiver_numbers=number_spellings(filters.receiver_numbers),
    )


class TextShape(NamedTuple):
    """How a list's text condition is built: for SQLite's FTS5 table or a MATCH, as false
    (the index holds none of the words), and whether it is checked on the rows read."""

    on_sqlite: bool
    matches_nothing: bool
    on_rows_read: bool


@dataclass(frozen=True)
class QueryShape:
    """What decides a list query's SQL, apart from its values: the value lists given (by
    column name), the one split into branches and its number of values, which bounds
    apply, and how text is matched. Queries of one shape share one statement, built once,
    whose values are bind parameters: building and keying a statement of ten branches
    costs more Python time than running it."""

    lists: tuple[str, ...]
    split: str | None
    split_values: int
    before: bool
    created_after: bool
    created_before: bool
    id_range: IdRange
    text: TextShape | None


def search_statement(
    filters: SearchFilters, limit: int, before: int | None = None
) -> tuple[Select[Any], dict[str, Any]]:
    """The query behind every list, newest first, ``limit`` rows below the ``before`` id,
    and its parameters.

    ``col IN (a, b) ORDER BY id DESC LIMIT n`` cannot read the ``(col, id)``
    index in order: the database either reads every row of every value and
    sorts them, or walks the primary key backwards until it has met enough of
    them, which crosses most of the table when those values' rows are old. So a
    list with several values is split into one branch per value, each reading
    at most ``limit`` rows backwards along ``(col, id)``, and only their ids are
    merged. A single value, or message ids (unique, so few rows), need no split.

    A time range also becomes a range of ids when that is cheap to learn (see
    ``time_range_ids``), so that no walk along ``id`` crosses rows outside it.

    Text is matched through the text index; where a walk along a value's index meets
    few rows, MariaDB/MySQL check it on each row read instead (see ``TextQuery``).
    """
    lists = {
        name: list(dict.fromkeys(values))  # duplicates would repeat rows across branches
        for name, values in (
            ("message_id", filters.message_ids),
            ("sender_number", filters.sender_numbers),
            ("receiver_number", filters.receiver_numbers),
            ("account_id", filters.account_ids),
        )
        if values
    }
    params: dict[str, Any] = {
        "limit": limit,
        "before": before,
        "created_after": filters.created_after,
        "created_before": filters.created_before,
    }
    id_range, params["first_id"], params["last_id"] = time_range_ids(
        filters.created_after, filters.created_before, filtered=bool(lists)
    )
    text = None
    if filters.text_words:
        query = text_query(filters.text_words)
        params[TEXT_QUERY_PARAMETER] = query.text
        text = TextShape(query.on_sqlite, not query.text, bool(lists) and query.on_rows_read)
    split = _column_to_split(lists)
    for name, values in lists.items():
        if name == split:
            params.update((f"{name}_{index}", value) for index, value in enumerate(values))
        else:
            params[name] = values
    shape = QueryShape(
        lists=tuple(lists),
        split=split,
        split_values=len(lists[split]) if split else 0,
        before=before is not None,
        created_after=filters.created_after is not None,
        created_before=filters.created_before is not None,
        id_range=id_range,
        text=text,
    )
    return statement_of_shape(shape), params


@lru_cache(maxsize=STATEMENTS_KEPT)
def statement_of_shape(shape: QueryShape) -> Select[Any]:
    """The statement for every query of ``shape`` (see ``search_statement``)."""
    conditions: list[ColumnElement[bool]] = []
    if shape.before:
        conditions.append(Message.id < bindparam("before"))
    if shape.created_after:
        conditions.append(Message.created_at >= bindparam("created_after"))
    if shape.created_before:
        conditions.append(Message.created_at < bindparam("created_before"))
    if shape.id_range is IdRange.EMPTY:
        conditions.append(Message.id <= NO_ID)
    elif shape.id_range is IdRange.BOUNDED:
        conditions += [Message.id >= bindparam("first_id"), Message.id <= bindparam("last_id")]
    on_rows_read: list[ColumnElement[bool]] = []
    if shape.text is not None:
        condition = text_condition(shape.text.on_sqlite, shape.text.matches_nothing)
        (on_rows_read if shape.text.on_rows_read else conditions).append(condition)
    limit = bindparam("limit", type_=Integer)

    if shape.split is None:
        filtered = [LIST_COLUMNS[name].in_(bindparam(name, expanding=True)) for name in shape.lists]
        return (
            select(*PAGE_COLUMNS)
            .where(*filtered, *conditions)
            .having(*on_rows_read)
            .order_by(Message.id.desc())
            .limit(limit)
        )

    split = LIST_COLUMNS[shape.split]
    others = [
        LIST_COLUMNS[name].in_(bindparam(name, expanding=True))
        for name in shape.lists
        if name != shape.split
    ]
    branches = [
        # A condition in HAVING may only name selected columns.
        select(Message.id, *([Message.message_text] if on_rows_read else []))
        .where(split == bindparam(f"{shape.split}_{index}"), *others, *conditions)
        .having(*on_rows_read)
        .order_by(Message.id.desc())
        .limit(limit)
        .subquery()
        for index in range(shape.split_values)
    ]
    # SQLite allows no ORDER BY/LIMIT inside a compound select: each branch is a subquery.
    merged = union_all(*(select(branch.c.id) for branch in branches)).subquery()
    newest = select(merged.c.id).order_by(merged.c.id.desc()).limit(limit).subquery()
    return select(*PAGE_COLUMNS).join(newest, Message.id == newest.c.id).order_by(Message.id.desc())


def time_range_ids(
    created_after: datetime | None, created_before: datetime | None, *, filtered: bool
) -> tuple[IdRange, int | None, int | None]:
    """Bounds on ``id`` that hold for every row in the time range, when cheap to find: the
    kind of range and its first and last id.

    Lists walk ``id`` backwards, and ids grow with creation time, so a time
    bound far from the newest rows makes that walk cross every row in between
    (0.6 s at a million rows). The smallest and largest id created in the range
    come from an index-only scan of ``created_at`` over it, and make exact
    bounds for the walk. That scan is made only when the range holds at most
    half of the time stored (judged from the oldest and newest rows, four index
    probes); a wider range is met soon by the walk itself. When value lists
    (``filtered``) already narrow the walk to one index range per value, the
    scan is made only for a range of at most ``TIME_RANGE_SCAN_MAX_ROWS`` rows,
    so it never costs much more than it can save.
    """
    if created_after is None and created_before is None:
        return IdRange.NONE, None, None
    connection = current_connection()
    oldest, newest, first_id, last_id = connection.execute(STORED_TIMES_AND_IDS).one()
    if oldest is None or newest is None or oldest >= newest:
        return IdRange.NONE, None, None
    start = max(created_after or oldest, oldest)
    end = min(created_before or newest, newest)
    share = max((end - start) / (newest - oldest), 0.0)
    if share > 0.5 or (filtered and share * (last_id - first_id) > TIME_RANGE_SCAN_MAX_ROWS):
        return IdRange.NONE, None, None
    in_range: list[ColumnElement[bool]] = []
    if created_after is not None:
        in_range.append(Message.created_at >= created_after)
    if created_before is not None:
        in_range.append(Message.created_at < created_before)
    first, last = connection.execute(
        select(func.min(Message.id), func.max(Message.id)).where(*in_range)
    ).one()
    if first is None:
        return IdRange.EMPTY, None, None
    return IdRange.BOUNDED, first, last


def _column_to_split(lists: dict[str, list[Any]]) -> str | None:
    """The filter column whose values become branches, or None when one query reads in order."""
    if "message_id" in lists:
        return None
    if not lists or any(len(values) == 1 for values in lists.values()):
        return None
    # Fewest values, fewest branches; on a tie the order of ``lists`` (numbers before accounts,
    # numbers being the more selective) decides.
    return min(lists, key=lambda column: len(lists[column]))

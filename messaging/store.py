"""How messages are stored and found: the only module that writes SQL for them."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Row,
    Select,
    delete,
    func,
    insert,
    select,
    union_all,
)
from sqlalchemy import exc as sa_exc

from messaging.extensions import db
from messaging.models import Message

# Rows removed per purge transaction: small enough that no lock is held for long.
PURGE_BATCH_SIZE = 1000
# A concurrent create with the same idempotency key can make an insert fail in
# ways that are worth one more look (the winner's row appears, or a deadlock).
IDEMPOTENT_CREATE_ATTEMPTS = 3
MYSQL_DEADLOCK = 1213
# Ids start at 1: ``id <= NO_ID`` is an empty range every query planner reads as one.
NO_ID = 0
# The most index entries a search scans to turn its time range into an id range
# when value lists narrow it already (about 30 ms on the machine it was measured on).
TIME_RANGE_SCAN_MAX_ROWS = 250_000

INSERT_MESSAGE = insert(Message.__table__)
# Lists are read as rows of the table, not as ORM objects: loading a page of objects costs
# as much again as the query, and nothing on a page is ever changed.
MESSAGE_ROWS = Message.__table__


class IdempotencyKeyReusedError(Exception):
    """The idempotency key was first used with a different request body."""


class IdempotencyKeyConflictError(Exception):
    """Another request with the same key got in the way and its outcome cannot be replayed."""


@dataclass(slots=True)
class StoredMessage:
    """A message as a create stored or found it: the row's columns, without an ORM object."""

    id: int
    message_id: str
    account_id: int
    sender_number: str
    receiver_number: str
    message_text: str | None
    created_at: datetime
    idempotency_key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True)
class Created:
    """The outcome of a create: the message, and whether it was stored before."""

    message: StoredMessage
    replayed: bool


def new_message_id() -> str:
    """A UUID version 7 (RFC 9562): time-ordered, so the unique index grows at its end."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def utc_now() -> datetime:
    """Current time as naive UTC, the form the ``created_at`` column keeps."""
    return datetime.now(UTC).replace(tzinfo=None)


def request_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the validated request: a retry that spells a number differently is the same."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def create_message(
    account_id: int,
    sender_number: str,
    receiver_number: str,
    message_text: str | None,
    idempotency_key: str | None = None,
) -> Created:
    """Store a message and commit, or replay the one stored before under ``idempotency_key``.

    Raises ``IdempotencyKeyReusedError`` when the key was used with another body,
    ``IdempotencyKeyConflictError`` when a concurrent request with the key leaves
    nothing to replay.
    """
    fields = {
        "account_id": account_id,
        "sender_number": sender_number,
        "receiver_number": receiver_number,
        "message_text": message_text,
    }
    if idempotency_key is None:
        return Created(_insert_message(fields), replayed=False)

    fingerprint = request_hash(fields)
    for _ in range(IDEMPOTENT_CREATE_ATTEMPTS):
        stored = _find_by_idempotency_key(account_id, idempotency_key)
        if stored is not None:
            return Created(_replay(stored, fingerprint), replayed=True)
        try:
            message = _insert_message(
                fields, idempotency_key=idempotency_key, request_hash=fingerprint
            )
        except sa_exc.IntegrityError:
            # A concurrent request stored the key first: its row is there to replay.
            continue
        except sa_exc.OperationalError as error:
            # InnoDB may pick one of several inserts waiting on the same key as a deadlock
            # victim; the others' outcome is then settled, so look again.
            if _mysql_error_code(error) != MYSQL_DEADLOCK:
                raise
            continue
        return Created(message, replayed=False)
    raise IdempotencyKeyConflictError(idempotency_key)


def _insert_message(fields: dict[str, Any], **extra: Any) -> StoredMessage:
    values = {"message_id": new_message_id(), **fields, "created_at": utc_now(), **extra}
    with _write_connection() as connection:
        new_id = _insert(connection, values)
    return StoredMessage(id=new_id, **values)


@contextmanager
def _write_connection() -> Iterator[Connection]:
    """A connection for one write, committed when the block ends without an error.

    The request's session is used only when it already holds a connection (with API
    keys on, the key lookup opened one): a second checkout would cost another pre-ping.
    Otherwise the write gets a pooled connection of its own, outside the session, whose
    transaction bookkeeping costs more than a single INSERT.
    """
    # Asked without making a session for a request that has none.
    if db.session.registry.has() and db.session().in_transaction():
        try:
            yield db.session.connection()
        except BaseException:
            db.session.rollback()
            raise
        db.session.commit()
        return
    with db.engine.connect() as connection:
        yield connection
        connection.commit()


def _insert(connection: Connection, values: dict[str, Any]) -> int:
    """Run the INSERT and return the new row's id.

    Where the driver takes the values as they are, the statement goes to it as text: about
    40 % of a Core execution's time went to matching the parameters to the compiled statement.
    """
    sql = _driver_insert_sql(connection.dialect, tuple(values))
    if sql is None:
        return connection.execute(INSERT_MESSAGE, values).inserted_primary_key[0]
    return connection.exec_driver_sql(sql, values).lastrowid


# Two backends at most in a process (tests), two column sets each (with an idempotency key or not).
@functools.lru_cache(maxsize=8)
def _driver_insert_sql(dialect: Dialect, keys: tuple[str, ...]) -> str | None:
    """The INSERT of these columns in the driver's own SQL, when the driver takes named
    parameters and no column converts its value on the way in (PyMySQL); else None."""
    columns = [Message.__table__.c[key] for key in keys]
    if dialect.positional or any(
        column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns
    ):
        return None
    return str(INSERT_MESSAGE.compile(dialect=dialect, column_keys=list(keys)))


def _find_by_idempotency_key(account_id: int, key: str) -> StoredMessage | None:
    row = db.session.execute(
        select(MESSAGE_ROWS).where(Message.account_id == account_id, Message.idempotency_key == key)
    ).one_or_none()
    # Ends the read transaction: under REPEATABLE READ a later look must see new commits.
    db.session.commit()
    return None if row is None else StoredMessage(**row._mapping)


def _replay(stored: StoredMessage, fingerprint: str) -> StoredMessage:
    if stored.request_hash != fingerprint:
        raise IdempotencyKeyReusedError(stored.idempotency_key)
    return stored


def _mysql_error_code(error: sa_exc.DBAPIError) -> int | None:
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def get_message(message_id: str, account_ids: Sequence[int] | None = None) -> Message | None:
    """The message with this id, or None; ``account_ids`` confines the lookup."""
    query = select(Message).where(Message.message_id == message_id)
    if account_ids is not None:
        query = query.where(Message.account_id.in_(account_ids))
    return db.session.scalars(query).one_or_none()


def delete_message(message_id: str, account_ids: Sequence[int] | None = None) -> bool:
    """Delete the message for good; False when there was none (or it is not in ``account_ids``)."""
    statement = delete(Message).where(Message.message_id == message_id)
    if account_ids is not None:
        statement = statement.where(Message.account_id.in_(account_ids))
    deleted = db.session.execute(statement).rowcount
    db.session.commit()
    return deleted > 0


def list_account_messages(
    account_id: int, limit: int, before: int | None = None
) -> Sequence[Row[Any]]:
    """Newest first, up to ``limit`` rows older than the ``before`` id."""
    return search_messages(account_ids=[account_id], limit=limit, before=before)


def search_messages(**filters: Any) -> Sequence[Row[Any]]:
    """Messages in every list given (IN within a list, AND across lists), newest first.

    Takes the arguments of ``search_statement``; each row has the message's columns
    as attributes.
    """
    return db.session.execute(search_statement(**filters)).all()


def search_statement(
    *,
    limit: int,
    before: int | None = None,
    message_ids: Sequence[str] | None = None,
    account_ids: Sequence[int] | None = None,
    sender_numbers: Sequence[str] | None = None,
    receiver_numbers: Sequence[str] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Select[Any]:
    """The query behind every list: newest first, ``limit`` rows below the ``before`` id.

    ``col IN (a, b) ORDER BY id DESC LIMIT n`` cannot read the ``(col, id)``
    index in order: the database either reads every row of every value and
    sorts them, or walks the primary key backwards until it has met enough of
    them, which crosses most of the table when those values' rows are old. So a
    list with several values is split into one branch per value, each reading
    at most ``limit`` rows backwards along ``(col, id)``, and only their ids are
    merged. A single value, or message ids (unique, so few rows), need no split.

    A time range also becomes a range of ids when that is cheap to learn (see
    ``time_range_ids``), so that no walk along ``id`` crosses rows outside it.
    """
    lists: dict[Any, list[Any]] = {
        column: list(dict.fromkeys(values))  # duplicates would repeat rows across branches
        for column, values in (
            (Message.message_id, message_ids),
            (Message.sender_number, sender_numbers),
            (Message.receiver_number, receiver_numbers),
            (Message.account_id, account_ids),
        )
        if values
    }
    conditions: list[ColumnElement[bool]] = []
    if before is not None:
        conditions.append(Message.id < before)
    if created_after is not None:
        conditions.append(Message.created_at >= created_after)
    if created_before is not None:
        conditions.append(Message.created_at < created_before)
    conditions += time_range_ids(created_after, created_before, filtered=bool(lists))

    split = _column_to_split(lists)
    if split is None:
        filtered = [column.in_(values) for column, values in lists.items()]
        return (
            select(MESSAGE_ROWS)
            .where(*filtered, *conditions)
            .order_by(Message.id.desc())
            .limit(limit)
        )

    others = [column.in_(values) for column, values in lists.items() if column is not split]
    branches = [
        select(Message.id)
        .where(split == value, *others, *conditions)
        .order_by(Message.id.desc())
        .limit(limit)
        .subquery()
        for value in lists[split]
    ]
    # SQLite allows no ORDER BY/LIMIT inside a compound select: each branch is a subquery.
    merged = union_all(*(select(branch.c.id) for branch in branches)).subquery()
    newest = select(merged.c.id).order_by(merged.c.id.desc()).limit(limit).subquery()
    return select(MESSAGE_ROWS).join(newest, Message.id == newest.c.id).order_by(Message.id.desc())


def time_range_ids(
    created_after: datetime | None, created_before: datetime | None, *, filtered: bool
) -> list[ColumnElement[bool]]:
    """Bounds on ``id`` that hold for every row in the time range, when cheap to find.

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
        return []
    oldest, newest, first_id, last_id = db.session.execute(
        select(
            select(func.min(Message.created_at)).scalar_subquery(),
            select(func.max(Message.created_at)).scalar_subquery(),
            select(func.min(Message.id)).scalar_subquery(),
            select(func.max(Message.id)).scalar_subquery(),
        )
    ).one()
    if oldest is None or newest is None or oldest >= newest:
        return []
    start = max(created_after or oldest, oldest)
    end = min(created_before or newest, newest)
    share = max((end - start) / (newest - oldest), 0.0)
    if share > 0.5 or (filtered and share * (last_id - first_id) > TIME_RANGE_SCAN_MAX_ROWS):
        return []
    in_range: list[ColumnElement[bool]] = []
    if created_after is not None:
        in_range.append(Message.created_at >= created_after)
    if created_before is not None:
        in_range.append(Message.created_at < created_before)
    first, last = db.session.execute(
        select(func.min(Message.id), func.max(Message.id)).where(*in_range)
    ).one()
    if first is None:
        return [Message.id <= NO_ID]
    return [Message.id >= first, Message.id <= last]


def _column_to_split(lists: dict[Any, list[Any]]) -> Any | None:
    """The filter column whose values become branches, or None when one query reads in order."""
    if Message.message_id in lists:
        return None
    if not lists or any(len(values) == 1 for values in lists.values()):
        return None
    # Fewest values, fewest branches; on a tie the order of ``lists`` (numbers before accounts,
    # numbers being the more selective) decides.
    return min(lists, key=lambda column: len(lists[column]))


def count_messages_older_than(cutoff: datetime, account_id: int | None = None) -> int:
    """How many messages a purge with this cutoff would delete."""
    query = select(func.count()).select_from(Message).where(Message.created_at < cutoff)
    if account_id is not None:
        query = query.where(Message.account_id == account_id)
    count = db.session.scalar(query) or 0
    db.session.commit()
    return count


def purge_messages_older_than(
    cutoff: datetime, account_id: int | None = None, batch_size: int = PURGE_BATCH_SIZE
) -> Iterator[int]:
    """Delete messages created before ``cutoff``, one short transaction per batch.

    Yields the number deleted by each batch, so a caller can report progress.
    The oldest rows go first; within an account its ``(account_id, id)`` index
    finds them, otherwise the ``created_at`` index does.
    """
    query = select(Message.id).where(Message.created_at < cutoff).limit(batch_size)
    if account_id is None:
        query = query.order_by(Message.created_at)
    else:
        query = query.where(Message.account_id == account_id).order_by(Message.id)
    while True:
        ids = db.session.scalars(query).all()
        if not ids:
            db.session.commit()
            return
        deleted = db.session.execute(delete(Message).where(Message.id.in_(ids))).rowcount
        db.session.commit()
        yield deleted

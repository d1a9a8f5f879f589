"""Storing messages: one message or a batch, in one transaction on the request's connection,
replayed under an Idempotency-Key.

Both backends and both routes take the same path: the request's connection (the one an
API key lookup already opened, if any, so a create checks out one pooled connection), a
Core insert of the table (for a batch, one executemany, which the driver sends as
multi-row INSERTs), a commit, and a rollback when anything fails before the commit.
A create sent with a key also inserts its key's rows into ``idempotency_keys``, first,
in the same transaction: the primary key there lets one of several concurrent requests
with the key win.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy import exc as sa_exc

from messaging.clock import utc_now
from messaging.conflicts import retry_on_conflict
from messaging.connections import current_connection
from messaging.ids import new_message_id
from messaging.masking import mask_number
from messaging.metrics import service_metrics
from messaging.models import MESSAGE_COLUMNS, IdempotencyKey, Message
from messaging.mysql_errors import MYSQL_DEADLOCK, mysql_error_code
from messaging.records import MESSAGE_FIELDS, MessageRecord

# A concurrent create with the same idempotency key can make an insert fail in
# ways that are worth one more look (the winner's row appears, or a deadlock).
IDEMPOTENT_CREATE_ATTEMPTS = 3
# Marks the idempotency keys of a batch's messages; the header's keys are printable ASCII.
BATCH_KEY_MARK = "\x1f"

# Built once: executing them costs no statement construction or cache-key generation.
INSERT_MESSAGE = insert(Message.__table__)
INSERT_KEY = insert(IdempotencyKey.__table__)

log = logging.getLogger(__name__)


class IdempotencyKeyReusedError(Exception):
    """The idempotency key was first used with a different request body."""


class IdempotencyKeyConflictError(Exception):
    """Another request with the same key got in the way and its outcome cannot be replayed."""


@dataclass(frozen=True)
class Created:
    """The outcome of a create: the message, and whether it was stored before."""

    message: MessageRecord
    replayed: bool


@dataclass(frozen=True)
class CreatedBatch:
    """The outcome of a batch create: its messages in request order, and whether stored before."""

    messages: list[MessageRecord]
    replayed: bool


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
        rows = [_new_row(fields)]
        return Created(retry_on_conflict(lambda: _insert_messages(rows))[0], replayed=False)

    fingerprint = request_hash(fields)
    for _ in range(IDEMPOTENT_CREATE_ATTEMPTS):
        stored = _find_by_idempotency_key(account_id, idempotency_key)
        if stored is not None:
            message, stored_hash = stored
            if stored_hash != fingerprint:
                raise IdempotencyKeyReusedError(idempotency_key)
            return Created(message, replayed=True)
        row = _new_row(fields)
        try:
            (message,) = _insert_messages([row], [_key_row(row, idempotency_key, fingerprint)])
        except sa_exc.IntegrityError:
            # A concurrent request stored the key first: its row is there to replay.
            continue
        except sa_exc.OperationalError as error:
            # InnoDB may pick one of several inserts waiting on the same key as a deadlock
            # victim; the others' outcome is then settled, so look again.
            if mysql_error_code(error) != MYSQL_DEADLOCK:
                raise
            continue
        return Created(message, replayed=False)
    raise IdempotencyKeyConflictError(idempotency_key)


def create_messages(
    items: Sequence[dict[str, Any]], idempotency_key: str | None = None
) -> CreatedBatch:
    """Store every message of ``items`` in one transaction, or none; or replay the batch
    stored before under ``idempotency_key``.

    A batch takes its key in every account it writes to, as a single create takes it in
    its own: the first message of each account is stored under the key itself. The other
    messages are stored under keys made from the key and their place in the batch, which
    no client can send (they hold a control character), so a replay finds the whole
    batch, in request order. Raises as ``create_message`` does.
    """
    rows = [_new_row(item) for item in items]
    if idempotency_key is None:
        return CreatedBatch(retry_on_conflict(lambda: _insert_messages(rows)), replayed=False)

    fingerprint = request_hash({"messages": list(items)})
    keys = batch_item_keys(items, idempotency_key)
    key_rows = [_key_row(row, key, fingerprint) for row, key in zip(rows, keys, strict=True)]
    for _ in range(IDEMPOTENT_CREATE_ATTEMPTS):
        stored = _find_batch(items, keys, fingerprint)
        if stored is not None:
            return CreatedBatch(stored, replayed=True)
        try:
            return CreatedBatch(_insert_messages(rows, key_rows), replayed=False)
        except sa_exc.IntegrityError:
            continue  # as in create_message: the winner's batch is there to replay
        except sa_exc.OperationalError as error:
            if mysql_error_code(error) != MYSQL_DEADLOCK:
                raise
            continue
    raise IdempotencyKeyConflictError(idempotency_key)


def batch_item_keys(items: Sequence[dict[str, Any]], idempotency_key: str) -> list[str]:
    """The idempotency key each message of a batch is stored under (see ``create_messages``)."""
    digest = hashlib.sha256(idempotency_key.encode("ascii")).hexdigest()
    accounts: set[int] = set()
    keys = []
    for index, item in enumerate(items):
        if item["account_id"] in accounts:
            keys.append(f"{BATCH_KEY_MARK}{index}{BATCH_KEY_MARK}{digest}")
        else:
            accounts.add(item["account_id"])
            keys.append(idempotency_key)
    return keys


def _find_batch(
    items: Sequence[dict[str, Any]], keys: Sequence[str], fingerprint: str
) -> list[MessageRecord] | None:
    """The batch stored under these keys, in request order; None when none of it was."""
    connection = current_connection()
    rows = connection.execute(
        _stored_under_keys(IdempotencyKey.idempotency_key).where(
            IdempotencyKey.account_id.in_({item["account_id"] for item in items}),
            IdempotencyKey.idempotency_key.in_(set(keys)),
        )
    ).all()
    # Ends the read transaction: under REPEATABLE READ a later look must see new commits.
    connection.commit()
    if not rows:
        return None
    found = {(row.account_id, row.idempotency_key): row for row in rows}
    if any(row.request_hash != fingerprint for row in rows) or len(found) != len(items):
        # Another request's messages, or what is left of this batch after deletions.
        raise IdempotencyKeyReusedError(keys[0])
    return [
        MessageRecord(*found[item["account_id"], key][: len(MESSAGE_FIELDS)])
        for item, key in zip(items, keys, strict=True)
    ]


def _new_row(fields: dict[str, Any]) -> dict[str, Any]:
    return {"message_id": new_message_id(), **fields, "created_at": utc_now()}


def _key_row(row: dict[str, Any], key: str, fingerprint: str) -> dict[str, Any]:
    return {
        "account_id": row["account_id"],
        "idempotency_key": key,
        "message_id": row["message_id"],
        "request_hash": fingerprint,
    }


def _stored_under_keys(*extra: Any) -> Select[Any]:
    """The messages stored under idempotency keys: each one's columns, the hash of the request
    that stored it, and ``extra``; the caller says which keys."""
    return (
        select(*MESSAGE_COLUMNS, IdempotencyKey.request_hash, *extra)
        .select_from(IdempotencyKey)
        .join(Message, Message.message_id == IdempotencyKey.message_id)
    )


def _insert_messages(
    rows: list[dict[str, Any]], key_rows: Sequence[dict[str, Any]] = ()
) -> list[MessageRecord]:
    """INSERT the rows (after their idempotency keys' rows, if any) and COMMIT on the request's
    connection; rolled back when anything fails."""
    connection = current_connection()
    try:
        if key_rows:
            connection.execute(INSERT_KEY, key_rows)
        connection.execute(INSERT_MESSAGE, rows)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    messages = [MessageRecord(*(row[name] for name in MESSAGE_FIELDS)) for row in rows]
    service_metrics().messages_created.inc(len(messages))
    # DEBUG: the access line already records each create; this adds who and to whom.
    if log.isEnabledFor(logging.DEBUG):
        for message in messages:
            log.debug(
                "message %s created for account %s from %s to %s",
                message.message_id,
                message.account_id,
                mask_number(message.sender_number),
                mask_number(message.receiver_number),
            )
    return messages


def _find_by_idempotency_key(account_id: int, key: str) -> tuple[MessageRecord, str] | None:
    """The message stored under ``key`` and the hash of the request that stored it."""
    connection = current_connection()
    row = connection.execute(
        _stored_under_keys().where(
            IdempotencyKey.account_id == account_id, IdempotencyKey.idempotency_key == key
        )
    ).one_or_none()
    # Ends the read transaction: under REPEATABLE READ a later look must see new commits.
    connection.commit()
    if row is None:
        return None
    return MessageRecord(*row[:-1]), row[-1]

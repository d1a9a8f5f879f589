"""Storing a message: one INSERT on the request's session, replayed under an Idempotency-Key.

Both backends take the same path: the session's connection (the one an API key lookup
already opened, if any, so a create checks out one pooled connection), a Core insert of
the table, a commit, and a rollback when anything fails before the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, select

from messaging.extensions import db
from messaging.ids import new_message_id
from messaging.masking import mask_number
from messaging.metrics import service_metrics
from messaging.models import MESSAGE_COLUMNS, Message
from messaging.records import MESSAGE_FIELDS, MessageRecord

# A concurrent create with the same idempotency key can make an insert fail in
# ways that are worth one more look (the winner's row appears, or a deadlock).
IDEMPOTENT_CREATE_ATTEMPTS = 3
MYSQL_DEADLOCK = 1213

# Built once: executing it costs no statement construction or cache-key generation.
INSERT_MESSAGE = insert(Message.__table__)

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
            message, stored_hash = stored
            if stored_hash != fingerprint:
                raise IdempotencyKeyReusedError(idempotency_key)
            return Created(message, replayed=True)
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


def _insert_message(fields: dict[str, Any], **extra: Any) -> MessageRecord:
    """INSERT and COMMIT on the session; rolled back when either fails."""
    try:
        result = db.session.connection().execute(
            INSERT_MESSAGE, {"message_id": new_message_id(), **fields, **extra}
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    # The values as inserted, ``created_at`` from the model's default included.
    inserted = result.last_inserted_params()
    message = MessageRecord(*(inserted[name] for name in MESSAGE_FIELDS))
    service_metrics().messages_created.inc()
    # DEBUG: the access line already records each create; this one adds who and to whom.
    log.debug(
        "message %s created for account %s from %s to %s",
        message.message_id,
        message.account_id,
        mask_number(message.sender_number),
        mask_number(message.receiver_number),
    )
    return message


def _find_by_idempotency_key(account_id: int, key: str) -> tuple[MessageRecord, str] | None:
    """The message stored under ``key`` and the hash of the request that stored it."""
    row = db.session.execute(
        select(*MESSAGE_COLUMNS, Message.request_hash).where(
            Message.account_id == account_id, Message.idempotency_key == key
        )
    ).one_or_none()
    # Ends the read transaction: under REPEATABLE READ a later look must see new commits.
    db.session.commit()
    if row is None:
        return None
    return MessageRecord(*row[:-1]), row[-1]


def _mysql_error_code(error: sa_exc.DBAPIError) -> int | None:
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None

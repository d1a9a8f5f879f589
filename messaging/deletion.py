"""Deleting messages: one by its id, or every one older than a retention cutoff, in batches.

A message's idempotency key goes with it, in the same transaction: the key is free again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Select, delete, func, select

from messaging.conflicts import retry_on_conflict
from messaging.connections import current_connection
from messaging.legacy_values import message_id_spellings
from messaging.models import IdempotencyKey, Message

# Rows removed per purge transaction: small enough that no lock is held for long.
PURGE_BATCH_SIZE = 1000
# A purge batch runs unattended and may wait: on a Galera cluster, creates replicated from
# other nodes abort a batch of deletes now and then (README, "Running on a cluster"), so it
# gets many more attempts than a request's write, and longer pauses.
PURGE_BATCH_ATTEMPTS = 30
PURGE_PAUSE_CAP_SECONDS = 1.0

log = logging.getLogger(__name__)


def delete_message(message_id: str, account_ids: Sequence[int] | None = None) -> bool:
    """Delete the message for good; False when there was none (or it is not in ``account_ids``)."""
    spellings = message_id_spellings(message_id)
    statement = delete(Message).where(Message.message_id.in_(spellings))
    if account_ids is not None:
        statement = statement.where(Message.account_id.in_(account_ids))

    def delete_with_its_key() -> int:
        connection = current_connection()
        deleted = connection.execute(statement).rowcount
        if deleted:
            connection.execute(
                delete(IdempotencyKey).where(IdempotencyKey.message_id.in_(spellings))
            )
        connection.commit()
        return deleted

    # A delete that lost to a concurrent write deleted nothing: it runs again whole.
    deleted = retry_on_conflict(delete_with_its_key)
    if deleted:
        log.info("message %s deleted", message_id)
    return deleted > 0


def count_messages_older_than(cutoff: datetime, account_id: int | None = None) -> int:
    """How many messages a purge with this cutoff would delete."""
    query = select(func.count()).select_from(Message).where(Message.created_at < cutoff)
    if account_id is not None:
        query = query.where(Message.account_id == account_id)
    connection = current_connection()
    count = connection.scalar(query) or 0
    connection.commit()
    return count


def purge_messages_older_than(
    cutoff: datetime, account_id: int | None = None, batch_size: int = PURGE_BATCH_SIZE
) -> Iterator[int]:
    """Delete messages created before ``cutoff``, one short transaction per batch.

    Yields the number deleted by each batch, so a caller can report progress.
    The oldest rows go first; within an account its ``(account_id, id)`` index
    finds them, otherwise the ``created_at`` index does.
    """
    query = (
        select(Message.id, Message.message_id).where(Message.created_at < cutoff).limit(batch_size)
    )
    if account_id is None:
        query = query.order_by(Message.created_at)
    else:
        query = query.where(Message.account_id == account_id).order_by(Message.id)
    while True:
        deleted = retry_on_conflict(
            lambda: _purge_batch(query),
            attempts=PURGE_BATCH_ATTEMPTS,
            pause_cap=PURGE_PAUSE_CAP_SECONDS,
        )
        if deleted is None:
            return
        yield deleted


def _purge_batch(query: Select[tuple[int, str]]) -> int | None:
    """Delete one batch of the rows ``query`` selects, and their idempotency keys, in a
    transaction of its own; None when none are left."""
    connection = current_connection()
    rows = connection.execute(query).all()
    if not rows:
        connection.commit()
        return None
    deleted = connection.execute(delete(Message).where(Message.id.in_(r.id for r in rows)))
    connection.execute(
        delete(IdempotencyKey).where(IdempotencyKey.message_id.in_(r.message_id for r in rows))
    )
    connection.commit()
    return deleted.rowcount

"""Deleting messages: one by its id, or every one older than a retention cutoff, in batches."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Delete, Select, delete, func, select

from messaging.conflicts import retry_on_conflict
from messaging.extensions import db
from messaging.legacy_values import message_id_spellings
from messaging.models import Message

# Rows removed per purge transaction: small enough that no lock is held for long.
PURGE_BATCH_SIZE = 1000

log = logging.getLogger(__name__)


def delete_message(message_id: str, account_ids: Sequence[int] | None = None) -> bool:
    """Delete the message for good; False when there was none (or it is not in ``account_ids``)."""
    statement = delete(Message).where(Message.message_id.in_(message_id_spellings(message_id)))
    if account_ids is not None:
        statement = statement.where(Message.account_id.in_(account_ids))
    # A delete that lost to a concurrent write deleted nothing: it runs again whole.
    deleted = retry_on_conflict(lambda: _execute_and_commit(statement))
    if deleted:
        log.info("message %s deleted", message_id)
    return deleted > 0


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
        deleted = retry_on_conflict(lambda: _purge_batch(query))
        if deleted is None:
            return
        yield deleted


def _execute_and_commit(statement: Delete) -> int:
    deleted = db.session.execute(statement).rowcount
    db.session.commit()
    return deleted


def _purge_batch(query: Select[tuple[int]]) -> int | None:
    """Delete one batch of the rows ``query`` selects, in a transaction of its own; None when
    none are left."""
    ids = db.session.scalars(query).all()
    if not ids:
        db.session.commit()
        return None
    return _execute_and_commit(delete(Message).where(Message.id.in_(ids)))

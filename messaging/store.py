"""How messages are stored and found: the only module that writes SQL for them."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import insert, select

from messaging.extensions import db
from messaging.models import Message


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


def create_message(
    account_id: int, sender_number: str, receiver_number: str, message_text: str | None
) -> Message:
    """Store a message and commit; the returned object is what was written."""
    values = {
        "message_id": new_message_id(),
        "account_id": account_id,
        "sender_number": sender_number,
        "receiver_number": receiver_number,
        "message_text": message_text,
        "created_at": utc_now(),
    }
    # A Core insert skips the unit of work: one statement, no reload after commit.
    result = db.session.execute(insert(Message).values(**values))
    db.session.commit()
    return Message(id=result.inserted_primary_key[0], **values)


def list_account_messages(
    account_id: int, limit: int, before: int | None = None
) -> Sequence[Message]:
    """Newest first, up to ``limit`` rows older than the ``before`` id."""
    return search_messages(account_ids=[account_id], limit=limit, before=before)


def search_messages(
    *,
    limit: int,
    before: int | None = None,
    message_ids: Sequence[str] | None = None,
    account_ids: Sequence[int] | None = None,
    sender_numbers: Sequence[str] | None = None,
    receiver_numbers: Sequence[str] | None = None,
) -> Sequence[Message]:
    """Messages in every list given (IN within a list, AND across lists), newest first."""
    query = select(Message).order_by(Message.id.desc()).limit(limit)
    for column, values in (
        (Message.message_id, message_ids),
        (Message.account_id, account_ids),
        (Message.sender_number, sender_numbers),
        (Message.receiver_number, receiver_numbers),
    ):
        if values:
            query = query.where(column.in_(values))
    if before is not None:
        query = query.where(Message.id < before)
    return db.session.scalars(query).all()

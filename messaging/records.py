"""A stored message as every read returns it (create, get, list, search), and a page of them.

One shape on every path, so the JSON a client gets cannot depend on the route. It is a
plain dataclass of the six public columns: orjson writes it directly, field by field in
this order (``messaging.message_json``), and marshmallow's ``MessageSchema`` reads it by
attribute. ``created_at`` stays naive UTC, as the column keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which costs
# about half as much again on every row of every page.
@dataclass
class MessageRecord:
    message_id: str
    # None, and numbers in any spelling, only in rows adopted from the FastAPI service.
    account_id: int | None
    sender_number: str | None
    receiver_number: str | None
    message_text: str | None
    created_at: datetime | None  # naive UTC; None: adopted, creation time unknown


# The columns a read selects, in the record's order.
MESSAGE_FIELDS = tuple(field.name for field in fields(MessageRecord))


@dataclass(frozen=True)
class Page:
    """One page of a list, newest first, and the id below which the next page starts."""

    messages: list[MessageRecord]
    next_before: int | None

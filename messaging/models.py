"""The tables, as typed SQLAlchemy models: messages, their idempotency keys, number spellings
and API keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import CHAR, BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from messaging.clock import utc_now
from messaging.extensions import db
from messaging.limits import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    MESSAGE_ID_LENGTH,
    NUMBER_SPELLING_LENGTH,
    PHONE_NUMBER_LENGTH,
    SHA256_HEX_LENGTH,
)
from messaging.records import MESSAGE_FIELDS

# SQLite only auto-increments an INTEGER primary key; MySQL's DATETIME drops
# fractions of a second unless asked for them.
BigId = BigInteger().with_variant(Integer, "sqlite")
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# Idempotency keys are compared byte for byte: the tables' case-insensitive
# collation would make "abc" and "ABC" one key on MySQL and two on SQLite.
IdempotencyKeyString = String(IDEMPOTENCY_KEY_MAX_LENGTH).with_variant(
    mysql.VARCHAR(IDEMPOTENCY_KEY_MAX_LENGTH, charset="ascii", collation="ascii_bin"),
    "mysql",
    "mariadb",
)

# Text search: an InnoDB FULLTEXT index on MariaDB/MySQL; on SQLite an FTS5 table of this
# name (with shadow tables named after it) kept in step by triggers, both made by migration.
FULLTEXT_INDEX = "ft_messages_message_text"
SQLITE_TEXT_INDEX_TABLE = "messages_fts"
MYSQL_DIALECTS = ("mysql", "mariadb")

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


class Message(db.Model):
    """One stored SMS-style message. ``id`` is internal: it orders lists and pages."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(CHAR(MESSAGE_ID_LENGTH), nullable=False)
    account_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sender_number: Mapped[str] = mapped_column(String(PHONE_NUMBER_LENGTH), nullable=False)
    receiver_number: Mapped[str] = mapped_column(String(PHONE_NUMBER_LENGTH), nullable=False)
    message_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Naive, always UTC: MySQL DATETIME has no zone.
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utc_now)

    __table_args__ = (
        Index("uq_messages_message_id", "message_id", unique=True),
        Index("ix_messages_account_id_id", "account_id", "id"),
        Index("ix_messages_sender_number_id", "sender_number", "id"),
        Index("ix_messages_receiver_number_id", "receiver_number", "id"),
        # Time filters in search, and retention purges.
        Index("ix_messages_created_at", "created_at"),
        Index(FULLTEXT_INDEX, "message_text", mysql_prefix="FULLTEXT").ddl_if(
            dialect=MYSQL_DIALECTS
        ),
        {"sqlite_autoincrement": True, **MYSQL_TABLE_OPTIONS},
    )

    def __repr__(self) -> str:
        return f"<Message {self.message_id} account={self.account_id}>"


# What every read of a message selects: a ``MessageRecord``'s columns, in its order.
MESSAGE_COLUMNS = tuple(Message.__table__.c[name] for name in MESSAGE_FIELDS)


class IdempotencyKey(db.Model):
    """An Idempotency-Key a create was sent with, in an account it stored a message in: the
    message, and a hash of what the request asked for, so a retry can be told from a
    different request reusing the key. Deleting the message deletes its key.

    A table of its own rather than columns of ``messages``: a unique index there would hold
    ``(account_id, NULL)`` for every create without a key, and a Galera cluster certifies
    those as one key, so keyless creates for one account through different nodes would
    fail each other's commits.
    """

    __tablename__ = "idempotency_keys"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    idempotency_key: Mapped[str] = mapped_column(IdempotencyKeyString, primary_key=True)
    message_id: Mapped[str] = mapped_column(CHAR(MESSAGE_ID_LENGTH), nullable=False)
    request_hash: Mapped[str] = mapped_column(CHAR(SHA256_HEX_LENGTH), nullable=False)

    __table_args__ = (
        # Deleting a message finds its key by the message id.
        Index("ix_idempotency_keys_message_id", "message_id"),
        MYSQL_TABLE_OPTIONS,
    )


class NumberSpelling(db.Model):
    """A stored number that is not in normalised form (``+1 555-123-4567``), by its
    normalised form (``+15551234567``): rows adopted from the FastAPI service keep numbers
    as its clients spelt them, and a search for the normalised form finds them through here."""

    __tablename__ = "number_spellings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(PHONE_NUMBER_LENGTH), nullable=False)
    spelling: Mapped[str] = mapped_column(String(NUMBER_SPELLING_LENGTH), nullable=False)

    __table_args__ = (
        Index("ix_number_spellings_number", "number"),
        MYSQL_TABLE_OPTIONS,
    )


class ApiKey(db.Model):
    """A bearer token's SHA-256 hash, and the account it may act for; the token is never stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(CHAR(SHA256_HEX_LENGTH), nullable=False)
    # None: an admin key, which acts for every account.
    account_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False, default=utc_now)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)

    __table_args__ = (
        Index("uq_api_keys_token_hash", "token_hash", unique=True),
        {"sqlite_autoincrement": True, **MYSQL_TABLE_OPTIONS},
    )

    @property
    def is_admin(self) -> bool:
        return self.account_id is None

    def __repr__(self) -> str:
        scope = "admin" if self.is_admin else f"account={self.account_id}"
        return f"<ApiKey {self.id} {scope}>"


def modelled_on(dialect_name: str) -> dict[str, Callable[..., bool]]:
    """Alembic's ``include_name`` and ``include_object`` for comparing the models with a
    database of ``dialect_name``: what only the migrations make there is left out.

    That is SQLite's FTS5 table and its shadow tables, and, outside MySQL/MariaDB,
    the FULLTEXT index, which exists only there.
    """

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return not (type_ == "table" and (name or "").startswith(SQLITE_TEXT_INDEX_TABLE))

    def include_object(
        item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        fulltext = type_ == "index" and item.dialect_options["mysql"]["prefix"] == "FULLTEXT"
        return not fulltext or dialect_name in MYSQL_DIALECTS

    return {"include_name": include_name, "include_object": include_object}

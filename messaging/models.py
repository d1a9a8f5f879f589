"""Database tables, as SQLAlchemy models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from messaging.extensions import db

PHONE_NUMBER_LENGTH = 16  # "+" and the 15 digits E.164 allows
MESSAGE_ID_LENGTH = 36  # canonical UUID text

# SQLite only auto-increments an INTEGER primary key; MySQL's DATETIME drops
# fractions of a second unless asked for them.
BigId = BigInteger().with_variant(Integer, "sqlite")
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

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
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)

    __table_args__ = (
        Index("uq_messages_message_id", "message_id", unique=True),
        Index("ix_messages_account_id_id", "account_id", "id"),
        Index("ix_messages_sender_number_id", "sender_number", "id"),
        Index("ix_messages_receiver_number_id", "receiver_number", "id"),
        {"sqlite_autoincrement": True, **MYSQL_TABLE_OPTIONS},
    )

    def __repr__(self) -> str:
        return f"<Message {self.message_id} account={self.account_id}>"

"""The ORM model of the service's ``messages`` table (the columns this app reads and writes)."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .database import Base


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(36), unique=True, index=True)
    account_id: Mapped[int] = mapped_column(BigInteger, index=True)
    sender_number: Mapped[str] = mapped_column(String(16), index=True)
    receiver_number: Mapped[str] = mapped_column(String(16), index=True)
    message_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)

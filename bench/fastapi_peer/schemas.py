"""Pydantic models: what a client sends to create a message, and a message as returned."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class MessageCreate(BaseModel):
    account_id: int
    sender_number: str
    receiver_number: str
    message_text: str | None = None


class Message(MessageCreate):
    model_config = ConfigDict(from_attributes=True)

    message_id: str
    created_at: datetime

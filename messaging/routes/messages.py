"""The message routes of the seed contract."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from flask_smorest import Blueprint

from messaging import store
from messaging.arguments import parser
from messaging.logs import mask_number
from messaging.metrics import service_metrics
from messaging.models import Message
from messaging.pagination import keyset_page
from messaging.schemas import (
    AccountPathSchema,
    MessageCreateSchema,
    MessageSchema,
    PageArgsSchema,
    SearchArgsSchema,
)

blp = Blueprint("messages", __name__, url_prefix="/v1", description="Store and find messages.")
blp.ARGUMENTS_PARSER = parser

log = logging.getLogger(__name__)

Page = tuple[Sequence[Message], dict[str, str]]


@blp.post("/create")
@blp.arguments(MessageCreateSchema)
@blp.response(200, MessageSchema)
def create_message(payload: dict[str, Any]) -> Message:
    """Store a message; the response holds its new ``message_id``."""
    message = store.create_message(**payload)
    service_metrics().messages_created.inc()
    log.info(
        "message %s created for account %s from %s to %s",
        message.message_id,
        message.account_id,
        mask_number(message.sender_number),
        mask_number(message.receiver_number),
    )
    return message


@blp.get("/get/messages/<account_id>")
@blp.arguments(AccountPathSchema, location="path", as_kwargs=True)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, MessageSchema(many=True))
def list_account_messages(page: dict[str, Any], account_id: int) -> Page:
    """One account's messages, newest first, a page at a time."""
    return keyset_page(
        lambda limit, before: store.list_account_messages(account_id, limit, before),
        page["limit"],
        page.get("cursor"),
    )


@blp.get("/search")
@blp.arguments(SearchArgsSchema, location="query")
@blp.response(200, MessageSchema(many=True))
def search_messages(args: dict[str, Any]) -> Page:
    """Messages matching every list given (IN within a list, AND across lists), newest first."""
    return keyset_page(
        lambda limit, before: store.search_messages(
            limit=limit,
            before=before,
            message_ids=args.get("message_id"),
            sender_numbers=args.get("sender_number"),
            receiver_numbers=args.get("receiver_number"),
        ),
        args["limit"],
        args.get("cursor"),
    )

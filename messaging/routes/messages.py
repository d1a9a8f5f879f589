"""The message routes: create, get and delete by id, an account's pages, and search.

Each view parses, calls the query layer once and responds; the query layer's errors
become problems in ``errors.py``. View docstrings become the OpenAPI summary and
description, which are Markdown.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint, abort

from messaging import auth, create, deletion, search
from messaging.arguments import parser
from messaging.message_json import message_response
from messaging.openapi import CREATE_HEADERS, LIST_HEADERS, error_responses
from messaging.pagination import next_page_headers
from messaging.protocol import (
    IDEMPOTENCY_KEY_HEADER,
    IDEMPOTENT_REPLAYED_HEADER,
    NO_SUCH_MESSAGE_DETAIL,
)
from messaging.records import Page
from messaging.request_log import note_messages_stored
from messaging.schemas import (
    EXAMPLE_CREATE,
    EXAMPLE_MESSAGE,
    AccountPathSchema,
    IdempotencyHeaderSchema,
    MessageBatchCreateSchema,
    MessageCreateSchema,
    MessageSchema,
    PageArgsSchema,
    SearchArgsSchema,
)
from messaging.search import SearchFilters

blp = Blueprint("messages", __name__, url_prefix="/v1", description="Store and find messages.")
blp.ARGUMENTS_PARSER = parser
blp.before_request(auth.require_api_key)

# What any /v1 route may answer: 401 (API keys on) and 503 (database gone).
V1_ERRORS = (401, 503)
IDEMPOTENCY_HEADER = IdempotencyHeaderSchema()


def idempotency_key() -> str | None:
    """The create's ``Idempotency-Key``, validated (a 422 if bad); read only when sent."""
    if IDEMPOTENCY_KEY_HEADER not in request.headers:
        return None
    return parser.parse(IDEMPOTENCY_HEADER, request, location="headers").get("idempotency_key")


def page_response(page: Page) -> Response:
    return message_response(page.messages, next_page_headers(page.next_before))


@blp.post("/create")
@blp.arguments(MessageCreateSchema(), example=EXAMPLE_CREATE)
@blp.response(200, MessageSchema, example=EXAMPLE_MESSAGE, headers=CREATE_HEADERS)
@blp.doc(
    responses=error_responses(*V1_ERRORS, 403, 409, 413, 415),
    # Documented here and read by idempotency_key(), only when a create sends it.
    parameters=[{"in": "header", "schema": IDEMPOTENCY_HEADER}],
)
def create_message(payload: dict[str, Any]) -> Response:
    """Store a message; the response holds its new `message_id`.

    With an `Idempotency-Key` header, a retry of the same request answers with
    the message the first one stored (and `Idempotent-Replayed: true`) instead
    of storing another; the same key with a different body is a 422.
    """
    key = idempotency_key()
    auth.ensure_may_act_for(payload["account_id"])
    created = create.create_message(**payload, idempotency_key=key)
    replayed = {IDEMPOTENT_REPLAYED_HEADER: "true"} if created.replayed else None
    return message_response(created.message, replayed)


@blp.post("/create/batch")
@blp.arguments(MessageBatchCreateSchema(), example={"messages": [EXAMPLE_CREATE]})
@blp.response(200, MessageSchema(many=True), example=[EXAMPLE_MESSAGE], headers=CREATE_HEADERS)
@blp.doc(
    responses=error_responses(*V1_ERRORS, 403, 409, 413, 415),
    parameters=[{"in": "header", "schema": IDEMPOTENCY_HEADER}],
)
def create_messages(payload: dict[str, list[dict[str, Any]]]) -> Response:
    """Store 1 to 1,000 messages in one transaction: every one of them, or none.

    Each item is a create body. Every item is checked first: any bad item is a 422
    whose `errors.messages` names each bad item's index and field, and nothing is
    stored. The response lists the stored messages in request order. An
    `Idempotency-Key` works as for a single create, for the whole batch; it is taken
    in every account the batch writes to.
    """
    key = idempotency_key()
    for account_id in {item["account_id"] for item in payload["messages"]}:
        auth.ensure_may_act_for(account_id)
    created = create.create_messages(payload["messages"], idempotency_key=key)
    note_messages_stored(0 if created.replayed else len(created.messages))
    replayed = {IDEMPOTENT_REPLAYED_HEADER: "true"} if created.replayed else None
    return message_response(created.messages, replayed)


@blp.get("/get/messages/<account_id>")
@blp.arguments(AccountPathSchema(), location="path", as_kwargs=True)
@blp.arguments(PageArgsSchema(), location="query")
@blp.response(200, MessageSchema(many=True), example=[EXAMPLE_MESSAGE], headers=LIST_HEADERS)
@blp.doc(responses=error_responses(*V1_ERRORS))
def list_account_messages(page: dict[str, Any], account_id: int) -> Response:
    """One account's messages, newest first, a page at a time.

    With API keys on, an account key sees an empty list for any other account.
    """
    filters = SearchFilters(account_ids=auth.confine([account_id]))
    return page_response(search.search_messages(filters, page["limit"], page.get("cursor")))


@blp.get("/search")
@blp.arguments(SearchArgsSchema(), location="query")
@blp.response(200, MessageSchema(many=True), example=[EXAMPLE_MESSAGE], headers=LIST_HEADERS)
@blp.doc(responses=error_responses(*V1_ERRORS))
def search_messages(args: dict[str, Any]) -> Response:
    """Messages matching every list given (IN within a list, AND across lists), newest first.

    `created_after` (inclusive) and `created_before` (exclusive) narrow the time.
    With API keys on, an account key searches only its own account.
    """
    filters = SearchFilters(
        message_ids=args.get("message_id"),
        account_ids=auth.confine(args.get("account_id")),
        sender_numbers=args.get("sender_number"),
        receiver_numbers=args.get("receiver_number"),
        created_after=args.get("created_after"),
        created_before=args.get("created_before"),
        text_words=args.get("q"),
    )
    return page_response(search.search_messages(filters, args["limit"], args.get("cursor")))


@blp.get("/messages/<uuid:message_id>")
@blp.response(200, MessageSchema, example=EXAMPLE_MESSAGE)
@blp.doc(responses=error_responses(*V1_ERRORS, 404))
def get_message(message_id: uuid.UUID) -> Response:
    """One message by its id; 404 when there is none (or the id is no UUID)."""
    message = search.get_message(str(message_id), auth.caller_accounts())
    if message is None:
        abort(404, message=no_such_message(message_id))
    return message_response(message)


@blp.delete("/messages/<uuid:message_id>")
@blp.response(204)
@blp.doc(responses=error_responses(*V1_ERRORS, 404, 409))
def delete_message(message_id: uuid.UUID) -> Response:
    """Delete a message for good: it leaves every list and search."""
    if not deletion.delete_message(str(message_id), auth.caller_accounts()):
        abort(404, message=no_such_message(message_id))
    return Response(status=204)


def no_such_message(message_id: uuid.UUID) -> str:
    return NO_SUCH_MESSAGE_DETAIL.format(message_id=message_id)

"""The message routes: the seed contract, lookup by id, deletion and idempotent create.

View docstrings become the OpenAPI summary and description, which are Markdown.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint, abort

from messaging import auth, store
from messaging.arguments import parser
from messaging.logs import mask_number
from messaging.metrics import service_metrics
from messaging.models import Message
from messaging.pagination import Keyed, keyset_page
from messaging.schemas import (
    EXAMPLE_CREATE,
    EXAMPLE_MESSAGE,
    IDEMPOTENCY_KEY_HEADER,
    AccountPathSchema,
    IdempotencyHeaderSchema,
    MessageCreateSchema,
    MessageSchema,
    PageArgsSchema,
    SearchArgsSchema,
)

blp = Blueprint("messages", __name__, url_prefix="/v1", description="Store and find messages.")
blp.ARGUMENTS_PARSER = parser
blp.before_request(auth.require_api_key)

log = logging.getLogger(__name__)

Page = tuple[Sequence[Keyed], dict[str, str]]

IDEMPOTENT_REPLAYED_HEADER = "Idempotent-Replayed"


View = Callable[..., Any]


def documentation_only(*decorators: Callable[[View], View]) -> Callable[[View], View]:
    """Apply flask-smorest decorators for what they add to the OpenAPI document only.

    Each also wraps the view in a function that runs on every request: for
    ``alt_response`` it does nothing but call the view; for ``arguments`` its work is
    done by the view itself. The document is kept in the ``_apidoc`` attribute that
    flask-smorest reads from the view.
    """

    def decorator(view: View) -> View:
        documented = view
        for decorate in decorators:
            documented = decorate(documented)
        view._apidoc = documented._apidoc  # type: ignore[attr-defined]
        return view

    return decorator


def alt_responses(*responses: tuple[int, str]) -> Callable[[View], View]:
    """Document alternative responses: (status, name of a component response) each."""
    return documentation_only(
        *(blp.alt_response(status, response=name) for status, name in responses)
    )


# What any /v1 route may answer: 401 (API keys on) and 503 (database gone).
shared_errors = alt_responses((401, "UNAUTHORIZED"), (503, "SERVICE_UNAVAILABLE"))


LIST_HEADERS = {"Link": "Link"}
IDEMPOTENCY_HEADER = IdempotencyHeaderSchema()


def idempotency_key() -> str | None:
    """The create's ``Idempotency-Key``, validated (a 422 if bad); read only when sent."""
    if IDEMPOTENCY_KEY_HEADER not in request.headers:
        return None
    return parser.parse(IDEMPOTENCY_HEADER, request, location="headers").get("idempotency_key")


@blp.post("/create")
@shared_errors
@blp.arguments(MessageCreateSchema(), example=EXAMPLE_CREATE)
@documentation_only(blp.arguments(IDEMPOTENCY_HEADER, location="headers"))
@blp.response(
    200,
    MessageSchema,
    example=EXAMPLE_MESSAGE,
    headers={IDEMPOTENT_REPLAYED_HEADER: IDEMPOTENT_REPLAYED_HEADER},
)
@alt_responses(
    (403, "FORBIDDEN"),
    (409, "CONFLICT"),
    (413, "REQUEST_ENTITY_TOO_LARGE"),
    (415, "UNSUPPORTED_MEDIA_TYPE"),
)
def create_message(payload: dict[str, Any]) -> Any:
    """Store a message; the response holds its new `message_id`.

    With an `Idempotency-Key` header, a retry of the same request answers with
    the message the first one stored (and `Idempotent-Replayed: true`) instead
    of storing another; the same key with a different body is a 422.
    """
    key = idempotency_key()
    auth.ensure_may_act_for(payload["account_id"])
    try:
        created = store.create_message(**payload, idempotency_key=key)
    except store.IdempotencyKeyReusedError:
        abort(
            422,
            message="This Idempotency-Key was used with a different request body.",
            messages={"headers": {"Idempotency-Key": ["Already used with a different body."]}},
        )
    except store.IdempotencyKeyConflictError:
        abort(409, message="A concurrent request with this Idempotency-Key is in the way; retry.")
    message = created.message
    if created.replayed:
        return message, {IDEMPOTENT_REPLAYED_HEADER: "true"}
    service_metrics().messages_created.inc()
    # DEBUG: the access line already records each create; this one adds who and to whom.
    log.debug(
        "message %s created for account %s from %s to %s",
        message.message_id,
        message.account_id,
        mask_number(message.sender_number),
        mask_number(message.receiver_number),
    )
    return message


@blp.get("/get/messages/<account_id>")
@shared_errors
@blp.arguments(AccountPathSchema(), location="path", as_kwargs=True)
@blp.arguments(PageArgsSchema(), location="query")
@blp.response(200, MessageSchema(many=True), example=[EXAMPLE_MESSAGE], headers=LIST_HEADERS)
def list_account_messages(page: dict[str, Any], account_id: int) -> Page:
    """One account's messages, newest first, a page at a time.

    With API keys on, an account key sees an empty list for any other account.
    """
    if not auth.confine([account_id]):
        return [], {}
    return keyset_page(
        lambda limit, before: store.list_account_messages(account_id, limit, before),
        page["limit"],
        page.get("cursor"),
    )


@blp.get("/search")
@shared_errors
@blp.arguments(SearchArgsSchema(), location="query")
@blp.response(200, MessageSchema(many=True), example=[EXAMPLE_MESSAGE], headers=LIST_HEADERS)
def search_messages(args: dict[str, Any]) -> Page:
    """Messages matching every list given (IN within a list, AND across lists), newest first.

    `created_after` (inclusive) and `created_before` (exclusive) narrow the time.
    With API keys on, an account key searches only its own account.
    """
    account_ids = auth.confine(args.get("account_id"))
    if account_ids == []:
        return [], {}
    return keyset_page(
        lambda limit, before: store.search_messages(
            limit=limit,
            before=before,
            message_ids=args.get("message_id"),
            account_ids=account_ids,
            sender_numbers=args.get("sender_number"),
            receiver_numbers=args.get("receiver_number"),
            created_after=args.get("created_after"),
            created_before=args.get("created_before"),
        ),
        args["limit"],
        args.get("cursor"),
    )


@blp.get("/messages/<uuid:message_id>")
@shared_errors
@blp.response(200, MessageSchema, example=EXAMPLE_MESSAGE)
@alt_responses((404, "NOT_FOUND"))
def get_message(message_id: uuid.UUID) -> Message:
    """One message by its id; 404 when there is none (or the id is no UUID)."""
    return store.get_message(str(message_id), auth.caller_accounts()) or abort(
        404, message=no_such_message(message_id)
    )


@blp.delete("/messages/<uuid:message_id>")
@shared_errors
@blp.response(204)
@alt_responses((404, "NOT_FOUND"))
def delete_message(message_id: uuid.UUID) -> Response:
    """Delete a message for good: it leaves every list and search."""
    if not store.delete_message(str(message_id), auth.caller_accounts()):
        abort(404, message=no_such_message(message_id))
    log.info("message %s deleted", message_id)
    return Response(status=204)


def no_such_message(message_id: uuid.UUID) -> str:
    return f"There is no message {message_id}."

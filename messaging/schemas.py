"""What goes in and out of the API; every input rule lives here."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from messaging.limits import (
    ACCOUNT_ID_MAX,
    ACCOUNT_ID_MIN,
    BATCH_SIZE_MAX,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    MESSAGE_TEXT_MAX_LENGTH,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    PHONE_NUMBER_MAX_DIGITS,
    PHONE_NUMBER_MIN_DIGITS,
    SEARCH_TEXT_MAX_LENGTH,
    SEARCH_TEXT_MAX_WORDS,
    SEARCH_VALUES_MAX,
)
from messaging.masking import mask_number
from messaging.pagination import InvalidCursorError, decode_cursor
from messaging.protocol import DATABASE_UNAVAILABLE_DETAIL, IDEMPOTENCY_KEY_HEADER

# A leading '-' is kept so that a negative number meets its range check, not a format error.
DECIMAL_INTEGER_PATTERN = re.compile(r"-?[0-9]+", re.ASCII)
DIGITS = f"{{{PHONE_NUMBER_MIN_DIGITS},{PHONE_NUMBER_MAX_DIGITS}}}"
PHONE_NUMBER_PATTERN = re.compile(rf"^\+?[0-9]{DIGITS}$")
PHONE_NUMBER_SEPARATORS = re.compile(r"[\s\-.()]")
# For the OpenAPI document: the inputs normalisation accepts, spelt with only the
# separators every regex dialect agrees on (a space, not all of Unicode's).
PHONE_NUMBER_INPUT_PATTERN = rf"^[ ().-]*(\+[ ().-]*)?([0-9][ ().-]*){DIGITS}$"
IDEMPOTENCY_KEY_PATTERN = rf"^[\x20-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}$"
# In a query string an unencoded '+' arrives as a space: "10:00:00 01:00" meant "+01:00".
QUERY_OFFSET_WITH_LOST_PLUS = re.compile(r"(T[0-9:.,]+) ([0-9]{2}(:?[0-9]{2})?)$")

# The form of a time the API reads and writes, as error messages show it.
EXAMPLE_TIME = "2026-11-25T14:37:38Z"

EXAMPLE_MESSAGE = {
    "message_id": "019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6a",
    "account_id": 42,
    "sender_number": "+15551234567",
    "receiver_number": "+15557654321",
    "message_text": "See you at 6 👋",
    "created_at": "2026-11-25T14:37:38.123456+00:00",
}

EXAMPLE_CREATE = {
    "account_id": 42,
    "sender_number": "+1 (555) 123-4567",
    "receiver_number": "+15557654321",
    "message_text": "See you at 6 👋",
}


def normalize_phone_number(value: str) -> str:
    """Strip spaces, hyphens, dots and parentheses; raise if what is left is no number."""
    number = PHONE_NUMBER_SEPARATORS.sub("", value)
    if not PHONE_NUMBER_PATTERN.match(number):
        raise ma.ValidationError(
            "Not a phone number: after removing spaces, hyphens, dots and parentheses"
            f" it must be an optional '+' and {PHONE_NUMBER_MIN_DIGITS} to"
            f" {PHONE_NUMBER_MAX_DIGITS} digits."
        )
    return number


def normalize_message_id(value: str) -> str:
    try:
        # uuid.UUID reads the hex digits with int(), which takes '_' and non-ASCII digits too.
        if not value.isascii() or "_" in value:
            raise ValueError(value)
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ma.ValidationError("Not a message id: expected a UUID.") from None


def _reject_lone_surrogates(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ma.ValidationError("Text must be valid Unicode.") from None


class PhoneNumber(fields.String):
    """A phone number, returned in its normalised form."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"pattern": PHONE_NUMBER_INPUT_PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return normalize_phone_number(super()._deserialize(value, attr, data, **kwargs))


class QueryPhoneNumber(PhoneNumber):
    """A phone number from a query string, where an unencoded '+' arrives as a space.

    ``?sender_number=+15551234567`` decodes to `` 15551234567``; a value that
    starts with a space followed by a digit is read as the '+' its author typed.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str) and value[:1] == " " and value.lstrip()[:1].isdigit():
            value = "+" + value.lstrip()
        return super()._deserialize(value, attr, data, **kwargs)


class MessageId(fields.String):
    """A message id (a UUID), returned in canonical lower-case form."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return normalize_message_id(super()._deserialize(value, attr, data, **kwargs))


class DecimalInteger(fields.Integer):
    """An integer; from text (a path, a query string) only as ASCII digits.

    Python's ``int`` also takes ``4_2``, ``+42``, `` 42`` and every script's
    digits, so one number would have many spellings.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and not DECIMAL_INTEGER_PATTERN.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class AccountId(DecimalInteger):
    """A positive 64-bit account number; JSON booleans are not numbers here."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validate", validate.Range(ACCOUNT_ID_MIN, ACCOUNT_ID_MAX))
        kwargs.setdefault("metadata", {"example": 42})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


SHOWN_VALUE_MAX_LENGTH = 40


def shown_value(field: fields.Field, value: str) -> str:
    """A bad value as an error may quote it: a phone number masked as logs mask it, and short."""
    if isinstance(field, PhoneNumber):
        digits = "".join(character for character in value if character.isdigit())
        return mask_number(("+" if value.strip().startswith("+") else "") + digits)
    if len(value) > SHOWN_VALUE_MAX_LENGTH:
        value = value[:SHOWN_VALUE_MAX_LENGTH] + "…"
    return repr(value)


class CommaSeparated(fields.List):
    """A query parameter holding a comma-separated list of values.

    Repeating the parameter (``?a=1&a=2``) is read the same as ``?a=1,2``. Blank
    items are ignored; at least one and at most ``SEARCH_VALUES_MAX`` values.
    """

    def __init__(self, inner: fields.Field, **kwargs: Any) -> None:
        kwargs.setdefault(
            "validate",
            validate.Length(
                min=1,
                max=SEARCH_VALUES_MAX,
                error="Give between {min} and {max} comma-separated values.",
            ),
        )
        super().__init__(inner, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        raw = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in raw):
            raise self.make_error("invalid")
        items = [part for item in raw for part in item.split(",") if part.strip()]
        try:
            return super()._deserialize(items, attr, data, **kwargs)
        except ma.ValidationError as error:
            if not isinstance(error.messages, dict):
                raise
            # marshmallow keys each bad item by its index; a client wants to see which value.
            raise ma.ValidationError(
                [
                    f"Item {index + 1} ({shown_value(self.inner, items[index])}): "
                    + " ".join(map(str, messages))
                    for index, messages in sorted(error.messages.items())
                ]
            ) from None


class Cursor(fields.String):
    """The opaque page position; loads as the id the previous page ended at."""

    default_error_messages = {
        "cursor": "Not a cursor from this service's Link header.",
        "empty": "Empty: leave cursor out for the first page, or give the one a Link header held.",
    }

    def __init__(self, **kwargs: Any) -> None:
        # An empty cursor is refused, not read as the first page: it is a lost cursor, and
        # starting over would repeat pages to a client walking them.
        kwargs["metadata"] = {"minLength": 1, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if value == "":
            raise self.make_error("empty")
        try:
            return decode_cursor(super()._deserialize(value, attr, data, **kwargs))
        except InvalidCursorError:
            raise self.make_error("cursor") from None


class QueryDateTime(fields.DateTime):
    """An ISO 8601 time from a query string, loaded as naive UTC like the stored times.

    A time without an offset is UTC. One whose offset moves it outside the
    years 1 to 9999 is invalid rather than an overflow.
    """

    default_error_messages = {
        "invalid": f"Not a time: use ISO 8601, e.g. {EXAMPLE_TIME} or {EXAMPLE_TIME[:10]}.",
        "range": "Not a time between the years 1 and 9999 in UTC.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("format", "iso")
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str):
            value = QUERY_OFFSET_WITH_LOST_PLUS.sub(r"\1+\2", value.strip())
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            return moment
        try:
            return moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise self.make_error("range") from None


class UTCDateTime(fields.DateTime):
    """Stored times are naive UTC; clients get them with an explicit offset."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class MessageCreateSchema(ma.Schema):
    """What a client sends to create a message."""

    error_messages = {
        "type": "Expected a JSON object with account_id, sender_number, receiver_number"
        " and optionally message_text."
    }

    account_id = AccountId(required=True, strict=True)
    sender_number = PhoneNumber(required=True, metadata={"example": "+1 (555) 123-4567"})
    receiver_number = PhoneNumber(required=True, metadata={"example": "+15557654321"})
    message_text = fields.String(
        allow_none=True,
        load_default=None,
        validate=[validate.Length(max=MESSAGE_TEXT_MAX_LENGTH), _reject_lone_surrogates],
        metadata={"example": "See you at 6 👋"},
    )


CREATE_FIELDS = frozenset(MessageCreateSchema().fields)
CREATE_REQUIRED_FIELDS = frozenset(
    name for name, field in MessageCreateSchema().fields.items() if field.required
)


def load_valid_create(item: Any) -> dict[str, Any] | None:
    """What ``MessageCreateSchema().load(item)`` returns for an item that breaks no rule,
    at a tenth of the cost; None for any other item, which the schema then reads.

    A batch of 1,000 spent as long in the schema as in its INSERTs. This takes only
    what JSON gives a valid item (exact types, known keys) and applies the same rules
    through the same functions and limits; ``tests/test_batch_create.py`` checks that it
    never accepts what the schema refuses nor loads anything differently.
    """
    if type(item) is not dict or not CREATE_REQUIRED_FIELDS <= item.keys() <= CREATE_FIELDS:
        return None
    account_id = item["account_id"]
    sender, receiver = item["sender_number"], item["receiver_number"]
    text = item.get("message_text")
    if type(account_id) is not int or not ACCOUNT_ID_MIN <= account_id <= ACCOUNT_ID_MAX:
        return None
    if type(sender) is not str or type(receiver) is not str:
        return None
    if text is not None:
        if type(text) is not str or len(text) > MESSAGE_TEXT_MAX_LENGTH:
            return None
        try:
            _reject_lone_surrogates(text)
        except ma.ValidationError:
            return None
    try:
        sender, receiver = normalize_phone_number(sender), normalize_phone_number(receiver)
    except ma.ValidationError:
        return None
    return {
        "account_id": account_id,
        "sender_number": sender,
        "receiver_number": receiver,
        "message_text": text,
    }


class MessageBatch(fields.List):
    """The messages of a batch create: 1 to ``BATCH_SIZE_MAX`` create bodies.

    The count is checked before any item is read, so an oversized batch costs nothing to
    refuse. Items that break no rule are loaded by ``load_valid_create``; if any item
    does, the schema reads them all and reports each bad item's errors under its index.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "validate",
            validate.Length(
                min=1, max=BATCH_SIZE_MAX, error="Give between {min} and {max} messages."
            ),
        )
        super().__init__(fields.Nested(MessageCreateSchema()), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if isinstance(value, list):
            for check in self.validators:
                check(value)
            loaded = [load_valid_create(item) for item in value]
            if None not in loaded:
                return loaded
        return super()._deserialize(value, attr, data, **kwargs)


class MessageBatchCreateSchema(ma.Schema):
    """What a client sends to create several messages at once: every one is stored, or none."""

    messages = MessageBatch(required=True, metadata={"example": [EXAMPLE_CREATE]})


# At least one character that is not white space as ``str.split`` sees it. JSON Schema
# patterns are ECMAScript, whose ``\s`` leaves out U+001C to U+001F and U+0085: split
# splits at those too, so the class names them.
SEARCH_TEXT_PATTERN = r"[^\s\u001c-\u001f\u0085]"


class SearchText(fields.String):
    """Words to find in message text; loads as the list of words, split at white space."""

    default_error_messages = {
        "empty": "Give at least one word to search for.",
        "too_long": f"Give at most {SEARCH_TEXT_MAX_LENGTH} characters.",
        "too_many_words": f"Give at most {SEARCH_TEXT_MAX_WORDS} words.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > SEARCH_TEXT_MAX_LENGTH:
            raise self.make_error("too_long")
        words = text.split()
        if not words:
            raise self.make_error("empty")
        if len(words) > SEARCH_TEXT_MAX_WORDS:
            raise self.make_error("too_many_words")
        return words


# Messages adopted from the FastAPI service (MIGRATING.md) are returned as it stored them.
ADOPTED_AS_STORED = (
    "A message adopted from the FastAPI service returns what that service stored: null, or"
    " a number in the spelling its client sent."
)


class MessageSchema(ma.Schema):
    """A stored message as clients get it back."""

    class Meta:
        ordered = True

    message_id = MessageId(metadata={"example": EXAMPLE_MESSAGE["message_id"]})
    account_id = fields.Integer(
        allow_none=True, metadata={"example": 42, "description": ADOPTED_AS_STORED}
    )
    sender_number = fields.String(
        allow_none=True, metadata={"example": "+15551234567", "description": ADOPTED_AS_STORED}
    )
    receiver_number = fields.String(
        allow_none=True, metadata={"example": "+15557654321", "description": ADOPTED_AS_STORED}
    )
    message_text = fields.String(allow_none=True)
    created_at = UTCDateTime(
        allow_none=True,
        metadata={
            "example": EXAMPLE_MESSAGE["created_at"],
            "description": "UTC. Null for a message adopted from the FastAPI service, whose"
            " creation time was never recorded.",
        },
    )


class PageArgsSchema(ma.Schema):
    """Page size and the opaque cursor from a previous page's ``Link`` header."""

    limit = DecimalInteger(
        load_default=PAGE_SIZE_DEFAULT,
        validate=validate.Range(1, PAGE_SIZE_MAX),
        metadata={"description": f"Page size, 1 to {PAGE_SIZE_MAX}."},
    )
    cursor = Cursor(
        metadata={"description": "Opaque position from the previous page's Link header."}
    )


class AccountPathSchema(ma.Schema):
    account_id = AccountId(required=True)


class SearchArgsSchema(PageArgsSchema):
    """Filters: a message matches when it is in every list given and the time range."""

    q = SearchText(
        metadata={
            "description": "Words the message text must all hold (any case and accents),"
            f" at most {SEARCH_TEXT_MAX_WORDS} words and {SEARCH_TEXT_MAX_LENGTH} characters."
            ' Every character is text: `+ - " * @ ~ < > ( )` are no operators. Words under'
            " 3 characters and stop words such as `the` are left out (README, Text search)."
            " E.g. `parcel tuesday`.",
            "minLength": 1,
            "maxLength": SEARCH_TEXT_MAX_LENGTH,
            "pattern": SEARCH_TEXT_PATTERN,
        }
    )

    message_id = CommaSeparated(
        MessageId(),
        metadata={
            "description": f"Comma-separated message ids, at most {SEARCH_VALUES_MAX}; e.g."
            f" `{EXAMPLE_MESSAGE['message_id']}`.",
        },
    )
    account_id = CommaSeparated(
        AccountId(metadata={}),
        metadata={
            "description": f"Comma-separated account ids, at most {SEARCH_VALUES_MAX}; e.g."
            " `42,43`.",
        },
    )
    sender_number = CommaSeparated(
        QueryPhoneNumber(),
        metadata={
            "description": f"Comma-separated sender numbers, at most {SEARCH_VALUES_MAX};"
            " normalised like stored numbers. E.g. `+15551234567` (`%2B15551234567` in a URL).",
        },
    )
    receiver_number = CommaSeparated(
        QueryPhoneNumber(),
        metadata={
            "description": f"Comma-separated receiver numbers, at most {SEARCH_VALUES_MAX};"
            " normalised like stored numbers. E.g. `+15557654321`.",
        },
    )
    created_after = QueryDateTime(
        metadata={
            "description": "Only messages created at or after this time: ISO 8601, e.g."
            " `2026-11-01T00:00:00Z` or `2026-11-01`; UTC when no offset is given.",
        }
    )
    created_before = QueryDateTime(
        metadata={
            "description": "Only messages created before this time: ISO 8601, e.g."
            " `2026-12-01T00:00:00Z` or `2026-12-01`; UTC when no offset is given.",
        }
    )


class IdempotencyHeaderSchema(ma.Schema):
    """The optional ``Idempotency-Key`` request header of a create."""

    idempotency_key = fields.String(
        data_key=IDEMPOTENCY_KEY_HEADER,
        validate=validate.Regexp(
            IDEMPOTENCY_KEY_PATTERN,
            error=f"Give 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters.",
        ),
        metadata={
            "description": "Makes retries safe: a retry with the same key and body answers"
            " with the message the first request stored, and stores nothing. Unique per"
            f" account; 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters, e.g. a"
            " UUID. Leave it empty to store every request.",
        },
    )


class ProblemSchema(ma.Schema):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    class Meta:
        ordered = True

    type = fields.String(metadata={"example": "about:blank"})
    title = fields.String(metadata={"example": "Unprocessable Entity"})
    status = fields.Integer(metadata={"example": 422})
    detail = fields.String(
        metadata={"example": "The request is not valid; see errors for each field."}
    )
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={
            "description": "Validation failures only: the messages for each bad field.",
            "example": {"sender_number": ["Not a phone number."]},
        },
    )
    request_id = fields.String(
        metadata={"description": "Unexpected failures only: quote it when reporting one."}
    )


class HealthSchema(ma.Schema):
    """Liveness: the process serves, and which version it is."""

    class Meta:
        ordered = True

    status = fields.String(metadata={"example": "ok"})
    version = fields.String(metadata={"example": "1.1.0"})


class ReadinessSchema(ma.Schema):
    """Readiness: whether the database answered; ``detail`` only when it did not."""

    class Meta:
        ordered = True

    status = fields.String(
        validate=validate.OneOf(["ok", "unavailable"]), metadata={"example": "ok"}
    )
    database = fields.String(
        validate=validate.OneOf(["ok", "unreachable"]), metadata={"example": "ok"}
    )
    detail = fields.String(metadata={"example": DATABASE_UNAVAILABLE_DETAIL})

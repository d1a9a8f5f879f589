"""schemas.py: each input rule on its own, without a request or a database."""

from __future__ import annotations

import re
from datetime import datetime

import marshmallow as ma
import pytest

from messaging.limits import (
    ACCOUNT_ID_MAX,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    MESSAGE_TEXT_MAX_LENGTH,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    SEARCH_VALUES_MAX,
)
from messaging.pagination import encode_cursor
from messaging.schemas import (
    SEARCH_TEXT_PATTERN,
    IdempotencyHeaderSchema,
    MessageCreateSchema,
    MessageSchema,
    SearchArgsSchema,
    normalize_message_id,
    normalize_phone_number,
)

pytestmark = pytest.mark.database_agnostic

NUMBERS = {"sender_number": "+15551230001", "receiver_number": "+15559870001"}


def errors_of(schema: ma.Schema, data: dict) -> dict:
    with pytest.raises(ma.ValidationError) as caught:
        schema.load(data)
    return caught.value.messages


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("+1 (555) 123-4567", "+15551234567"),
        ("555.123.4567", "5551234567"),
        ("+44 20 7946 0958", "+442079460958"),
        ("123", "123"),
        ("+" + "9" * 15, "+" + "9" * 15),
        ("\u00a0555\u2003123", "555123"),  # any Unicode space is a separator
    ],
)
def test_phone_numbers_lose_their_separators(given, normalised):
    assert normalize_phone_number(given) == normalised


@pytest.mark.parametrize("given", ["12", "9" * 16, "++1555", "1555+", "abc", "", "+", "555-12x"])
def test_phone_numbers_need_3_to_15_digits_after_an_optional_plus(given):
    with pytest.raises(ma.ValidationError, match="3 to 15 digits"):
        normalize_phone_number(given)


def test_message_ids_load_in_canonical_lower_case():
    given = " 019AB6C4-7D2E-7C41-9A57-3F1E2D4C5B6A "
    assert normalize_message_id(given) == "019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6a"
    with pytest.raises(ma.ValidationError, match="UUID"):
        normalize_message_id("019ab6c4")


def test_create_loads_normalised_numbers_and_null_text_when_none_is_sent():
    loaded = MessageCreateSchema().load(
        {"account_id": 7, "sender_number": "+1 555 123 0001", "receiver_number": "5559870001"}
    )
    assert loaded == {
        "account_id": 7,
        "sender_number": "+15551230001",
        "receiver_number": "5559870001",
        "message_text": None,
    }


@pytest.mark.parametrize(
    ("account_id", "valid"),
    [(1, True), (ACCOUNT_ID_MAX, True), (0, False), (ACCOUNT_ID_MAX + 1, False), (True, False)],
)
def test_create_account_ids_are_positive_64_bit_integers_not_booleans(account_id, valid):
    data = {"account_id": account_id, **NUMBERS}
    if valid:
        assert MessageCreateSchema().load(data)["account_id"] == account_id
    else:
        assert set(errors_of(MessageCreateSchema(), data)) == {"account_id"}


@pytest.mark.parametrize("account_id", ["7", 7.5])
def test_create_account_id_must_be_a_json_integer(account_id):
    assert set(errors_of(MessageCreateSchema(), {"account_id": account_id, **NUMBERS})) == {
        "account_id"
    }


def test_create_text_is_at_most_1600_characters_of_valid_unicode():
    schema = MessageCreateSchema()
    longest = "😀" * MESSAGE_TEXT_MAX_LENGTH
    assert schema.load({"account_id": 1, **NUMBERS, "message_text": longest})["message_text"]
    too_long = {"account_id": 1, **NUMBERS, "message_text": "x" * (MESSAGE_TEXT_MAX_LENGTH + 1)}
    assert set(errors_of(schema, too_long)) == {"message_text"}
    surrogate = {"account_id": 1, **NUMBERS, "message_text": "half \ud83d of an emoji"}
    assert errors_of(schema, surrogate) == {"message_text": ["Text must be valid Unicode."]}


def test_create_refuses_unknown_fields():
    assert set(errors_of(MessageCreateSchema(), {"account_id": 1, **NUMBERS, "x": 1})) == {"x"}


def test_search_lists_split_on_commas_repeat_and_skip_blanks():
    loaded = SearchArgsSchema().load(
        {"account_id": ["1,2", " ,3"], "sender_number": " 15551230001,+1 555 123 0002"}
    )
    assert loaded["account_id"] == [1, 2, 3]
    # A leading space is the '+' a query string decoded; inner separators are removed.
    assert loaded["sender_number"] == ["+15551230001", "+15551230002"]
    assert loaded["limit"] == PAGE_SIZE_DEFAULT


def test_search_lists_hold_1_to_100_values():
    schema = SearchArgsSchema()
    most = ",".join(str(n) for n in range(1, SEARCH_VALUES_MAX + 1))
    assert len(schema.load({"account_id": most})["account_id"]) == SEARCH_VALUES_MAX
    assert set(errors_of(schema, {"account_id": most + ",101"})) == {"account_id"}
    assert set(errors_of(schema, {"account_id": " , "})) == {"account_id"}


@pytest.mark.parametrize(
    ("given", "loaded"),
    [
        ("2026-11-01", datetime(2026, 11, 1)),
        ("2026-11-01T09:30:00Z", datetime(2026, 11, 1, 9, 30)),
        ("2026-11-01T10:30:00+01:00", datetime(2026, 11, 1, 9, 30)),
        ("2026-11-01T10:30:00 01:00", datetime(2026, 11, 1, 9, 30)),  # the '+' became a space
        ("2026-11-01T09:30:00.123456", datetime(2026, 11, 1, 9, 30, 0, 123456)),
    ],
)
def test_search_times_load_as_naive_utc(given, loaded):
    assert SearchArgsSchema().load({"created_after": given})["created_after"] == loaded


@pytest.mark.parametrize("given", ["yesterday", "2026-13-01", "0001-01-01T00:00:00+01:00"])
def test_search_times_outside_iso_8601_or_the_calendar_are_refused(given):
    assert set(errors_of(SearchArgsSchema(), {"created_before": given})) == {"created_before"}


def test_page_arguments_bound_the_size_and_decode_the_cursor():
    schema = SearchArgsSchema()
    assert schema.load({"limit": str(PAGE_SIZE_MAX), "cursor": encode_cursor(42)}) == {
        "limit": PAGE_SIZE_MAX,
        "cursor": 42,
    }
    assert set(errors_of(schema, {"limit": str(PAGE_SIZE_MAX + 1)})) == {"limit"}
    assert errors_of(schema, {"cursor": "not-ours"}) == {
        "cursor": ["Not a cursor from this service's Link header."]
    }


# Every character ``str.split`` splits at: each alone is no word to search for.
WHITE_SPACE = [chr(code) for code in range(0x3001) if chr(code).isspace()]


@pytest.mark.parametrize("character", WHITE_SPACE, ids=lambda c: f"U+{ord(c):04X}")
def test_search_text_of_white_space_alone_is_refused_as_its_documented_pattern_says(character):
    assert errors_of(SearchArgsSchema(), {"q": character * 3}) == {
        "q": ["Give at least one word to search for."]
    }
    # What a client sees in the OpenAPI document rules it out too (the pattern's classes mean
    # the same in Python's re as in JSON Schema's ECMAScript for these characters).
    assert re.search(SEARCH_TEXT_PATTERN, character * 3) is None
    assert SearchArgsSchema().load({"q": f"{character}parcel{character}"})["q"] == ["parcel"]
    assert re.search(SEARCH_TEXT_PATTERN, f"{character}parcel{character}")


def test_search_refuses_unknown_parameters():
    assert set(errors_of(SearchArgsSchema(), {"sender": "123"})) == {"sender"}


@pytest.mark.parametrize(
    ("key", "valid"),
    [("a", True), ("x" * IDEMPOTENCY_KEY_MAX_LENGTH, True), ("", False), ("clé", False)],
)
def test_idempotency_keys_are_1_to_255_printable_ascii_characters(key, valid):
    schema = IdempotencyHeaderSchema()
    if valid:
        assert schema.load({"Idempotency-Key": key}) == {"idempotency_key": key}
    else:
        assert set(errors_of(schema, {"Idempotency-Key": key})) == {"Idempotency-Key"}


def test_a_message_is_dumped_in_order_with_times_in_utc():
    message = {
        "message_id": "019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6a",
        "account_id": 42,
        "sender_number": "+15551234567",
        "receiver_number": "+15557654321",
        "message_text": None,
        "created_at": datetime(2026, 11, 25, 14, 37, 38, 123456),
    }
    dumped = MessageSchema().dump(message)
    assert list(dumped) == list(message)
    assert dumped["created_at"] == "2026-11-25T14:37:38.123456+00:00"
    assert dumped["message_text"] is None

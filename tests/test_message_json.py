"""message_json.py: orjson writes a message exactly as MessageSchema and Flask's JSON would."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from messaging.limits import ACCOUNT_ID_MAX, MESSAGE_TEXT_MAX_LENGTH
from messaging.message_json import message_json, message_response
from messaging.records import MESSAGE_FIELDS, MessageRecord
from messaging.schemas import MessageSchema

pytestmark = pytest.mark.database_agnostic


def record(**fields) -> MessageRecord:
    values = {
        "message_id": "019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6a",
        "account_id": 42,
        "sender_number": "+15551234567",
        "receiver_number": "15557654321",
        "message_text": "See you at 6",
        "created_at": datetime(2026, 11, 25, 14, 37, 38, 123456),
    }
    return MessageRecord(**{**values, **fields})


RECORDS = [
    record(),
    record(message_text=None),
    record(message_text="See you at 6 👋 — 日本語, ﷽ and a flag 🇳🇿"),
    record(message_text='quotes " \\ backslashes \n new lines \t tabs \x00 \x1f \x7f'),
    record(message_text="line\u2028and paragraph\u2029separators, a BOM \ufeff"),
    record(message_text="x" * MESSAGE_TEXT_MAX_LENGTH),
    record(message_text=""),
    record(account_id=1, created_at=datetime(2026, 1, 1)),  # no fraction of a second
    record(account_id=ACCOUNT_ID_MAX, created_at=datetime(2026, 1, 1, 0, 0, 0, 1)),
    record(created_at=datetime(1, 1, 1)),
    record(created_at=datetime(9999, 12, 31, 23, 59, 59, 999999)),
]


def flask_bytes(content) -> bytes:
    """What the routes wrote before: MessageSchema's dump through Flask's own JSON provider."""
    app = Flask(__name__)
    app.json = DefaultJSONProvider(app)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    many = isinstance(content, list)
    with app.app_context():
        return app.json.response(MessageSchema(many=many).dump(content)).get_data()


def test_the_record_has_the_schemas_fields_in_its_order():
    assert tuple(MessageSchema().fields) == MESSAGE_FIELDS


@pytest.mark.parametrize("message", RECORDS)
def test_one_message_is_written_byte_for_byte_as_before(message):
    assert message_json(message) == flask_bytes(message)


@pytest.mark.parametrize("messages", [[], RECORDS[:1], RECORDS], ids=["none", "one", "all"])
def test_a_page_is_written_byte_for_byte_as_before(messages):
    assert message_json(messages) == flask_bytes(messages)


def test_the_response_is_json_with_the_headers_given():
    app = Flask(__name__)
    with app.app_context():
        response = message_response([record()], {"Link": '<http://x/?cursor=a>; rel="next"'})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Link"] == '<http://x/?cursor=a>; rel="next"'
    assert response.get_data() == flask_bytes([record()])

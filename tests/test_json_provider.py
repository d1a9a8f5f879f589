"""The orjson provider writes exactly what Flask's own JSON provider writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from messaging.json_provider import OrjsonProvider


@dataclass
class Point:
    x: int
    y: int


VALUES = [
    {"message_id": "019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6a", "message_text": "See you at 6 👋"},
    [{"account_id": 2**63 - 1, "message_text": None}, {"account_id": 1, "nested": [1, 2.5]}],
    {"errors": {"sender_number": {0: ["Not a phone number"], 3: ["Not a phone number"]}}},
    {"when": datetime(2026, 11, 25, 14, 37, 38, tzinfo=UTC), "day": date(2026, 11, 25)},
    {"id": uuid.UUID("019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6a"), "amount": Decimal("42.50")},
    {"point": Point(1, 2)},
    {"beyond_64_bits": 2**70},
    'quotes " and \\ backslashes and \u2028 line separators',
]


def make_app(provider_class: type[DefaultJSONProvider], *, debug: bool = False) -> Flask:
    app = Flask(__name__)
    app.json = provider_class(app)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    app.debug = debug
    return app


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("value", VALUES)
def test_orjson_provider_writes_the_bytes_flask_writes(value, debug):
    flask_app = make_app(DefaultJSONProvider, debug=debug)
    orjson_app = make_app(OrjsonProvider, debug=debug)
    with flask_app.app_context():
        expected = flask_app.json.response(value)
    with orjson_app.app_context():
        response = orjson_app.json.response(value)
    assert response.get_data() == expected.get_data()
    assert response.mimetype == expected.mimetype


def test_orjson_provider_sorts_keys_when_asked():
    app = make_app(OrjsonProvider)
    app.json.sort_keys = True
    with app.app_context():
        assert app.json.response({"b": 1, "a": 2}).get_data() == b'{"a":2,"b":1}\n'

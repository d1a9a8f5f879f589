"""The seed contract: create, list an account's messages, search — and every input rule."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

MESSAGE_FIELDS = {
    "message_id",
    "account_id",
    "sender_number",
    "receiver_number",
    "message_text",
    "created_at",
}


def test_create_message(client):
    before = datetime.now(UTC)
    response = client.post(
        "/v1/create",
        json={
            "account_id": 42,
            "sender_number": "+15551234567",
            "receiver_number": "+15557654321",
            "message_text": "Hello",
        },
    )
    assert response.status_code == 200
    assert response.content_type == "application/json"
    body = response.get_json()
    assert set(body) == MESSAGE_FIELDS
    assert uuid.UUID(body["message_id"]).version == 7
    assert body["account_id"] == 42
    assert body["sender_number"] == "+15551234567"
    assert body["receiver_number"] == "+15557654321"
    assert body["message_text"] == "Hello"
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC)


def test_a_created_message_reads_back_exactly_as_the_create_answered(client, create):
    for fields in ({"message_text": "Grüße 👋"}, {"message_text": None}):
        created = create(account_id=31, **fields)
        with client.get(f"/v1/messages/{created['message_id']}") as response:
            assert response.status_code == 200
            assert response.get_json() == created  # created_at to the microsecond


def test_create_message_without_text_stores_null(client, create):
    body = create(account_id=7)
    assert body["message_text"] is None
    listed = client.get("/v1/get/messages/7").get_json()
    assert listed[0]["message_text"] is None


def test_create_gives_each_message_a_new_id(create):
    ids = {create()["message_id"] for _ in range(20)}
    assert len(ids) == 20


def test_get_messages(client, create):
    first = create(account_id=5, message_text="first")
    second = create(account_id=5, message_text="second")
    create(account_id=6, message_text="other account")

    response = client.get("/v1/get/messages/5")

    assert response.status_code == 200
    body = response.get_json()
    assert isinstance(body, list)
    assert [m["message_id"] for m in body] == [second["message_id"], first["message_id"]]
    assert body[0] == second


def test_get_messages_of_unknown_account_is_empty_list(client):
    response = client.get("/v1/get/messages/999")
    assert response.status_code == 200
    assert response.get_json() == []
    assert "Link" not in response.headers


@pytest.mark.parametrize(
    "account_id", ["abc", "0", "-1", str(2**63), "1.5", "٤٢", "４２", "4_2", "+42", " 42", "42\n"]
)
def test_get_messages_rejects_bad_account_id(client, account_id):
    # Only ASCII digits are an integer: the others are 422s like any bad account id.
    response = client.get(f"/v1/get/messages/{quote(account_id)}")
    assert response.status_code == 422
    assert "account_id" in response.get_json()["errors"]


def test_search_messages(client, create):
    a = create(sender_number="111111", receiver_number="999001")
    b = create(sender_number="222222", receiver_number="999001")
    c = create(sender_number="111111", receiver_number="999002")
    create(sender_number="333333", receiver_number="999003")

    def ids(query):
        response = client.get(f"/v1/search?{query}")
        assert response.status_code == 200, response.get_json()
        assert isinstance(response.get_json(), list)
        return [m["message_id"] for m in response.get_json()]

    # IN within one list, newest first
    assert ids("sender_number=111111,222222") == [c["message_id"], b["message_id"], a["message_id"]]
    # AND across lists
    assert ids("sender_number=111111&receiver_number=999001") == [a["message_id"]]
    assert ids("sender_number=222222&receiver_number=999002") == []
    # by id, alone and combined
    assert ids(f"message_id={a['message_id']},{c['message_id']}") == [
        c["message_id"],
        a["message_id"],
    ]
    assert ids(f"message_id={a['message_id']}&sender_number=222222") == []
    # repeating a parameter reads like a comma-separated list
    assert ids("sender_number=111111&sender_number=222222") == ids("sender_number=111111,222222")


def test_search_without_filters_lists_everything_newest_first(client, create):
    made = [create(account_id=n)["message_id"] for n in (1, 2, 3)]
    assert [m["message_id"] for m in client.get("/v1/search").get_json()] == made[::-1]


def test_search_ignores_blank_items_and_spaces(client, create):
    a = create(sender_number="111111")
    response = client.get("/v1/search?sender_number=,111111,%20,")
    assert [m["message_id"] for m in response.get_json()] == [a["message_id"]]


def test_search_rejects_empty_list(client):
    response = client.get("/v1/search?sender_number=,")
    assert response.status_code == 422
    assert "sender_number" in response.get_json()["errors"]


def test_search_rejects_more_than_100_values(client, create):
    create(sender_number="1000")
    hundred = ",".join(str(1000 + n) for n in range(100))
    assert client.get(f"/v1/search?sender_number={hundred}").status_code == 200
    response = client.get(f"/v1/search?sender_number={hundred},9999")
    assert response.status_code == 422
    assert "sender_number" in response.get_json()["errors"]


def test_search_rejects_malformed_values(client):
    for query in ("sender_number=12", "receiver_number=abc", "message_id=not-a-uuid"):
        response = client.get(f"/v1/search?{query}")
        assert response.status_code == 422, query
        assert response.content_type == "application/problem+json"


def test_search_rejects_unknown_parameters(client):
    response = client.get("/v1/search?sender=111111")
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"sender": ["Unknown field."]}


def test_search_matches_message_id_in_any_case(client, create):
    made = create()
    response = client.get(f"/v1/search?message_id={made['message_id'].upper()}")
    assert [m["message_id"] for m in response.get_json()] == [made["message_id"]]


# --- phone number normalisation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("+1 (555) 123-4567", "+15551234567"),
        ("555.123.4567", "5551234567"),
        ("+44 20 7946 0958", "+442079460958"),
        ("123", "123"),
        ("+123456789012345", "+123456789012345"),
    ],
)
def test_numbers_are_stored_normalised(client, create, given, stored):
    made = create(sender_number=given, receiver_number=given)
    assert made["sender_number"] == stored
    assert made["receiver_number"] == stored
    listed = client.get(f"/v1/get/messages/{made['account_id']}").get_json()
    assert listed[0]["sender_number"] == stored


def test_search_normalises_numbers_like_storage(client, create):
    made = create(sender_number="+1 555 123 4567", receiver_number="(555) 765-4321")
    for query in (
        "sender_number=%2B1-555-123-4567",
        "sender_number=+15551234567",  # an unencoded '+' arrives as a space
        "receiver_number=555.765.4321",
        "receiver_number=(555)%207654321",
    ):
        response = client.get(f"/v1/search?{query}")
        assert [m["message_id"] for m in response.get_json()] == [made["message_id"]], query


# --- input rules on create ------------------------------------------------------------------

GOOD = {"account_id": 1, "sender_number": "+15551234567", "receiver_number": "+15557654321"}


@pytest.mark.parametrize("account_id", [1, 2**63 - 1])
def test_create_accepts_account_id_bounds(client, account_id):
    response = client.post("/v1/create", json={**GOOD, "account_id": account_id})
    assert response.status_code == 200
    assert response.get_json()["account_id"] == account_id


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_id", 0),
        ("account_id", -5),
        ("account_id", 2**63),
        ("account_id", "12"),
        ("account_id", 1.5),
        ("account_id", True),
        ("account_id", None),
        ("sender_number", "12"),
        ("sender_number", "1234567890123456"),
        ("sender_number", "555-CALL-NOW"),
        ("sender_number", "++15551234567"),
        ("sender_number", ""),
        ("sender_number", 15551234567),
        ("sender_number", None),
        ("receiver_number", "+1 555 abc"),
        ("receiver_number", ["+15551234567"]),
        ("message_text", "x" * 1601),
        ("message_text", 5),
        ("message_text", {"text": "hi"}),
        ("message_text", "\ud800"),
    ],
)
def test_create_rejects_bad_field(client, field, value):
    # json.dumps escapes a lone surrogate as \ud800, which is how a client would send one.
    body = json.dumps({**GOOD, field: value})
    response = client.post("/v1/create", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 422
    assert list(body["errors"]) == [field]
    assert client.get("/v1/search").get_json() == []


@pytest.mark.parametrize("missing", ["account_id", "sender_number", "receiver_number"])
def test_create_requires_field(client, missing):
    body = {key: value for key, value in GOOD.items() if key != missing}
    response = client.post("/v1/create", json=body)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {missing: ["Missing data for required field."]}


def test_create_accepts_text_of_1600_characters_of_any_script(client):
    text = ("héllo wörld ✓ 日本語 👋" * 100)[:1600]
    response = client.post("/v1/create", json={**GOOD, "message_text": text})
    assert response.status_code == 200
    assert response.get_json()["message_text"] == text
    assert client.get("/v1/get/messages/1").get_json()[0]["message_text"] == text


def test_emoji_round_trip(client):
    text = "Party 🎉🥳 at 8 — 👨‍👩‍👧‍👦 welcome 🏳️‍🌈"
    made = client.post("/v1/create", json={**GOOD, "message_text": text}).get_json()
    assert made["message_text"] == text
    stored = client.get(f"/v1/search?message_id={made['message_id']}").get_json()
    assert stored[0]["message_text"] == text


def test_create_rejects_unknown_fields(client):
    response = client.post("/v1/create", json={**GOOD, "priority": "high"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"priority": ["Unknown field."]}
    assert client.get("/v1/search").get_json() == []


@pytest.mark.parametrize("body", ["[]", "[1, 2]", '"text"', "42", "null", "true"])
def test_create_rejects_body_that_is_not_an_object(client, body):
    response = client.post("/v1/create", data=body, content_type="application/json")
    assert response.status_code == 422
    assert "body" in response.get_json()["errors"]


@pytest.mark.parametrize(
    "body",
    [
        "{",
        '{"account_id": 1,}',
        "{'a': 1}",
        b"\xff\xfe",
        "[" * 30_000 + "]" * 30_000,
        '{"account_id": ' + "[" * 1000 + "]" * 1000 + "}",
        '{"account_id": 1' + "0" * 5000 + "}",
        '{"\\ud800": 1}',
        '{"account_id": 1, "sender_number": "123", "receiver_number": "456", "x": {"\\udc00": 1}}',
    ],
)
def test_create_rejects_invalid_json(client, body):
    response = client.post("/v1/create", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.get_json()["errors"] == {"body": ["Invalid JSON body."]}


def test_create_rejects_empty_body(client):
    response = client.post("/v1/create", data="", content_type="application/json")
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"account_id", "sender_number", "receiver_number"}


def test_create_rejects_non_json_content_type(client):
    response = client.post("/v1/create", data="account_id=1", content_type="text/plain")
    assert response.status_code == 415
    assert response.content_type == "application/problem+json"


def test_create_reads_body_without_content_type_as_json(client):
    response = client.post("/v1/create", data=json.dumps(GOOD), content_type="")
    assert response.status_code == 200
    assert response.get_json()["account_id"] == 1


def test_create_rejects_oversized_body(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 65536
    padding = "x" * limit
    response = client.post(
        "/v1/create", data=f'{{"message_text": "{padding}"}}', content_type="application/json"
    )
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert client.get("/v1/search").get_json() == []


# --- one message by id, deletion ------------------------------------------------------------


def test_get_message_by_id(client, create):
    made = create(account_id=3, message_text="by id")
    response = client.get(f"/v1/messages/{made['message_id']}")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json() == made


def test_get_message_by_id_in_upper_case(client, create):
    made = create()
    response = client.get(f"/v1/messages/{made['message_id'].upper()}")
    assert response.status_code == 200
    assert response.get_json()["message_id"] == made["message_id"]


@pytest.mark.parametrize(
    "message_id", [str(uuid.uuid4()), "not-a-uuid", "12345", "019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6"]
)
def test_get_message_unknown_or_malformed_is_404_problem(client, create, message_id):
    create()
    response = client.get(f"/v1/messages/{message_id}")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json()["status"] == 404


def test_delete_message(client, create):
    kept = create(account_id=8, sender_number="111111", receiver_number="222222")
    gone = create(account_id=8, sender_number="111111", receiver_number="222222")

    response = client.delete(f"/v1/messages/{gone['message_id']}")

    assert response.status_code == 204
    assert response.data == b""
    assert client.get(f"/v1/messages/{gone['message_id']}").status_code == 404
    for url in (
        "/v1/get/messages/8",
        "/v1/search",
        "/v1/search?sender_number=111111",
        "/v1/search?receiver_number=222222",
        "/v1/search?account_id=8",
        f"/v1/search?message_id={gone['message_id']},{kept['message_id']}",
    ):
        assert [m["message_id"] for m in client.get(url).get_json()] == [kept["message_id"]], url


def test_delete_message_twice_is_404(client, create):
    made = create()
    assert client.delete(f"/v1/messages/{made['message_id']}").status_code == 204
    response = client.delete(f"/v1/messages/{made['message_id']}")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("message_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_delete_unknown_message_is_404_and_deletes_nothing(client, create, message_id):
    made = create()
    assert client.delete(f"/v1/messages/{message_id}").status_code == 404
    assert [m["message_id"] for m in client.get("/v1/search").get_json()] == [made["message_id"]]


# --- search by account and time ---------------------------------------------------------------


def test_search_by_account_ids(client, create):
    a = create(account_id=11)
    b = create(account_id=12)
    create(account_id=13)
    c = create(account_id=11, sender_number="444444")

    def ids(query):
        response = client.get(f"/v1/search?{query}")
        assert response.status_code == 200, response.get_json()
        return [m["message_id"] for m in response.get_json()]

    assert ids("account_id=11,12") == [c["message_id"], b["message_id"], a["message_id"]]
    assert ids("account_id=11&account_id=12") == ids("account_id=11,12")
    assert ids("account_id=11,12&sender_number=444444") == [c["message_id"]]
    assert ids("account_id=14") == []


@pytest.mark.parametrize(
    "value", ["0", "abc", str(2**63), "1.5", "11,x", "٤٢", "４２", "4_2", "+42", " 42"]
)
def test_search_rejects_bad_account_id(client, value):
    response = client.get(f"/v1/search?account_id={quote(value)}")
    assert response.status_code == 422
    assert "account_id" in response.get_json()["errors"]


@pytest.fixture
def dated(app, create):
    """Create a message and set its creation time (naive UTC), as if made back then."""
    from sqlalchemy import update

    from messaging.extensions import db
    from messaging.models import Message

    def dated(created_at, **fields):
        made = create(**fields)
        with app.app_context():
            db.session.execute(
                update(Message)
                .where(Message.message_id == made["message_id"])
                .values(created_at=created_at)
            )
            db.session.commit()
        return made["message_id"]

    return dated


def test_search_by_creation_time(client, dated):
    t = datetime(2026, 3, 1, 12, 0, 0)
    early = dated(t - timedelta(microseconds=1))
    at = dated(t)
    middle = dated(t + timedelta(hours=1))
    end = dated(t + timedelta(hours=2))

    def ids(query):
        response = client.get(f"/v1/search?{query}")
        assert response.status_code == 200, response.get_json()
        return [m["message_id"] for m in response.get_json()]

    # after is inclusive, before exclusive
    assert ids("created_after=2026-03-01T12:00:00") == [end, middle, at]
    assert ids("created_before=2026-03-01T12:00:00") == [early]
    assert ids("created_after=2026-03-01T12:00:00&created_before=2026-03-01T14:00:00") == [
        middle,
        at,
    ]
    # naive is UTC; an offset is honoured, given encoded or as the space a bare '+' becomes
    assert ids("created_after=2026-03-01T12:00:00Z") == [end, middle, at]
    assert ids("created_after=2026-03-01T13:00:00%2B01:00") == [end, middle, at]
    assert ids("created_after=2026-03-01T13:00:00+01:00") == [end, middle, at]
    assert ids("created_before=2026-03-01T07:00:00-05:00") == [early]
    assert ids("created_after=2026-03-01T11:59:59.999999") == [end, middle, at, early]
    # combined with lists, and a range that holds nothing
    assert ids(f"created_after=2026-03-01T12:00:00&message_id={early},{end}") == [end]
    assert ids("created_after=2026-03-02&created_before=2026-03-01") == []


@pytest.mark.parametrize(
    "query",
    [
        "created_after=yesterday",
        "created_after=2026-13-01",
        "created_before=2026-03-01T25:00:00",
        "created_before=",
        "created_after=9999-12-31T23:59:59-01:00",
        "created_before=0001-01-01T00:00:00%2B01:00",
    ],
)
def test_search_rejects_bad_time(client, query):
    response = client.get(f"/v1/search?{query}")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert set(response.get_json()["errors"]) == {query.split("=")[0]}


def test_search_by_time_pages_through_link_headers(client, dated):
    start = datetime(2026, 5, 1)
    made = [dated(start + timedelta(minutes=n), account_id=1 + n % 3) for n in range(25)]
    url = "/v1/search?account_id=1,2,3&created_after=2026-05-01T00:05:00&limit=4"
    seen = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [m["message_id"] for m in response.get_json()]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert seen == made[5:][::-1]

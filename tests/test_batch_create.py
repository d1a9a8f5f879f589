"""POST /v1/create/batch: up to 1,000 messages stored in one transaction, or none."""

from __future__ import annotations

import json
import re

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messaging.schemas import MessageCreateSchema, load_valid_create
from tests.test_metrics import sample, scrape

BATCH_SIZE_MAX = 1000


def item(n: int, account_id: int = 7, **fields) -> dict:
    return {
        "account_id": account_id,
        "sender_number": f"+1 (555) 000-{n % 10_000:04d}",
        "receiver_number": "+15559870001",
        "message_text": f"message number {n}",
        **fields,
    }


def post_batch(client, items, key=None, headers=None):
    headers = {**(headers or {}), **({} if key is None else {"Idempotency-Key": key})}
    return client.post("/v1/create/batch", json={"messages": items}, headers=headers)


def stored(client, account_id=7):
    """Every message of ``account_id``, oldest first."""
    response = client.get(f"/v1/get/messages/{account_id}?limit=1000")
    assert "Link" not in response.headers
    return list(reversed(response.get_json()))


def test_batch_stores_every_message_and_answers_them_in_request_order(client):
    items = [item(n) for n in range(5)]
    response = post_batch(client, items)

    assert response.status_code == 200, response.get_json()
    answered = response.get_json()
    assert [m["message_text"] for m in answered] == [f"message number {n}" for n in range(5)]
    assert [m["sender_number"] for m in answered] == [f"+15550000{n:03d}" for n in range(5)]
    assert len({m["message_id"] for m in answered}) == 5
    # Stored in request order: the list, newest first, reads them back reversed.
    assert stored(client) == answered
    for message in answered:
        assert client.get(f"/v1/messages/{message['message_id']}").get_json() == message


def test_batch_of_1000_messages_across_accounts(client):
    items = [item(n, account_id=7 + n % 3) for n in range(BATCH_SIZE_MAX)]
    response = post_batch(client, items)
    assert response.status_code == 200, response.get_json()
    assert [m["message_text"] for m in response.get_json()] == [i["message_text"] for i in items]
    assert len(stored(client, 7)) + len(stored(client, 8)) + len(stored(client, 9)) == 1000


@pytest.fixture
def app_config():
    # A 1,000-message batch is larger than the default 64 KiB body limit (README).
    return {"MAX_CONTENT_LENGTH": 1024 * 1024}


def test_batch_of_1001_messages_is_422_and_stores_nothing(client):
    response = post_batch(client, [item(n) for n in range(BATCH_SIZE_MAX + 1)])
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert "messages" in response.get_json()["errors"]
    assert stored(client) == []


@pytest.mark.parametrize("body", [{"messages": []}, {}, {"messages": {}}, {"messages": "x"}, []])
def test_empty_or_malformed_batch_is_422(client, body):
    response = client.post("/v1/create/batch", json=body)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"


def test_one_bad_item_is_422_naming_its_index_and_field_and_nothing_is_stored(client):
    items = [item(n) for n in range(10)]
    items[3]["sender_number"] = "not a number"
    items[8]["message_text"] = "x" * 1601
    del items[9]["receiver_number"]
    items[5]["colour"] = "blue"

    response = post_batch(client, items)

    assert response.status_code == 422
    errors = response.get_json()["errors"]["messages"]
    assert sorted(errors) == ["3", "5", "8", "9"]
    assert list(errors["3"]) == ["sender_number"]
    assert list(errors["5"]) == ["colour"]
    assert list(errors["8"]) == ["message_text"]
    assert list(errors["9"]) == ["receiver_number"]
    assert stored(client) == []


def test_bad_item_error_does_not_echo_numbers_or_text(client):
    items = [item(0, message_text="secret words here"), item(1, sender_number="+1555abc9876")]
    body = post_batch(client, items).get_data(as_text=True)
    assert "secret words" not in body
    assert "abc9876" not in body


def test_batch_larger_than_the_body_limit_is_413(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 65536
    items = [item(n, message_text="x" * 1600) for n in range(50)]
    response = post_batch(client, items)
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert stored(client) == []


def test_replayed_batch_answers_the_same_messages_and_stores_nothing_more(client):
    items = [item(n, account_id=7 + n % 2) for n in range(20)]
    first = post_batch(client, items, key="batch-1")
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers

    # Numbers spelt differently are the same request.
    again = [{**i, "sender_number": re.sub(r"[^\d+]", "", i["sender_number"])} for i in items]
    retry = post_batch(client, again, key="batch-1")

    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert len(stored(client, 7)) + len(stored(client, 8)) == 20


@pytest.mark.parametrize(
    "change",
    [
        lambda items: items[:-1],
        lambda items: [*items, item(99)],
        lambda items: [items[1], items[0], *items[2:]],
        lambda items: [{**items[0], "message_text": "other"}, *items[1:]],
    ],
)
def test_same_key_with_a_different_batch_is_422(client, change):
    items = [item(n) for n in range(5)]
    assert post_batch(client, items, key="batch-2").status_code == 200
    response = post_batch(client, change(items), key="batch-2")
    assert response.status_code == 422
    assert "Idempotency-Key" in json.dumps(response.get_json()["errors"])
    assert len(stored(client)) == 5


def test_a_key_used_by_a_single_create_cannot_be_reused_by_a_batch(client):
    """A key is unique per account whichever route took it, both ways round."""
    single = client.post("/v1/create", json=item(0), headers={"Idempotency-Key": "shared-1"})
    assert single.status_code == 200
    assert post_batch(client, [item(0)], key="shared-1").status_code == 422

    assert post_batch(client, [item(1)], key="shared-2").status_code == 200
    response = client.post("/v1/create", json=item(1), headers={"Idempotency-Key": "shared-2"})
    assert response.status_code == 422


def test_a_batch_takes_its_key_in_every_account_it_writes_to(client):
    assert post_batch(client, [item(0, 7), item(1, 8)], key="shared-3").status_code == 200
    for account_id in (7, 8):
        response = client.post(
            "/v1/create", json=item(5, account_id), headers={"Idempotency-Key": "shared-3"}
        )
        assert response.status_code == 422
    # Another account is free to use the key.
    response = client.post("/v1/create", json=item(5, 9), headers={"Idempotency-Key": "shared-3"})
    assert response.status_code == 200


def test_metrics_count_messages_not_requests(client):
    before = scrape(client)
    post_batch(client, [item(n) for n in range(25)])
    post_batch(client, [item(n) for n in range(25)], key="metrics-1")
    post_batch(client, [item(n) for n in range(25)], key="metrics-1")  # replayed: none stored
    after = scrape(client)
    created = "messaging_messages_created_total"
    assert sample(after, created) - sample(before, created) == 50


def test_access_line_says_how_many_were_stored(client, log_file):
    post_batch(client, [item(n) for n in range(12)], key="log-1")
    post_batch(client, [item(n) for n in range(12)], key="log-1")
    access = [line for line in log_file.read_text().splitlines() if " messaging.access " in line]
    assert re.search(r'POST /v1/create/batch 200 \d+\.\dms \S+ "[^"]*" stored=12$', access[0])
    assert re.search(r'POST /v1/create/batch 200 \d+\.\dms \S+ "[^"]*" stored=0$', access[1])
    assert "message number" not in log_file.read_text()


def test_an_account_key_may_batch_only_for_its_own_account(app, client, runner):
    app.config["AUTH_ENABLED"] = True
    result = runner.invoke(args=["api-key", "create", "--account-id", "7"])
    assert result.exit_code == 0, result.output
    token = {"Authorization": f"Bearer {result.output.split()[-1]}"}

    response = post_batch(client, [item(0, 7), item(1, 8)], headers=token)
    assert response.status_code == 403
    assert post_batch(client, [item(0, 7), item(1, 7)], headers=token).status_code == 200
    app.config["AUTH_ENABLED"] = False
    assert len(stored(client, 7)) == 2
    assert stored(client, 8) == []


def test_batch_is_in_the_openapi_document(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/v1/create/batch"]["post"]
    assert {"200", "403", "409", "413", "415", "422"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
    batch = spec["components"]["schemas"]["MessageBatchCreate"]["properties"]["messages"]
    assert (batch["minItems"], batch["maxItems"]) == (1, BATCH_SIZE_MAX)
    assert batch["items"] == {"$ref": "#/components/schemas/MessageCreate"}


# --- the batch's fast path through validation ------------------------------------------------

PHONE_LIKE = st.text(alphabet="+0123456789 -.()x\u00a0٣", max_size=20)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=2**64),
    st.sampled_from([1, 2**63 - 1, 2**63, 0, 42]),
    st.floats(allow_nan=False),
    PHONE_LIKE,
    st.text(max_size=1700),
    st.text(alphabet="a\ud800", max_size=3),
    st.just("x" * 1600),
    st.just("x" * 1601),
    st.lists(st.integers(), max_size=2),
)
ITEM_KEYS = ["account_id", "sender_number", "receiver_number", "message_text", "colour"]


@given(
    st.one_of(
        st.dictionaries(st.sampled_from(ITEM_KEYS), VALUES),
        st.fixed_dictionaries(
            {
                "account_id": st.integers(min_value=-1, max_value=2**63),
                "sender_number": PHONE_LIKE,
                "receiver_number": PHONE_LIKE,
            },
            optional={"message_text": st.one_of(st.none(), st.text(max_size=1601))},
        ),
        VALUES,
    )
)
@settings(max_examples=500, deadline=None, database=None)
def test_fast_path_loads_exactly_what_the_schema_loads(item):
    fast = load_valid_create(item)
    try:
        loaded = MessageCreateSchema().load(item)
    except ma.ValidationError:
        assert fast is None
    else:
        assert fast is None or fast == loaded


VALID = {"account_id": 42, "sender_number": "+1 (555) 123-4567", "receiver_number": "5557654"}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"account_id": 1},
        {"account_id": 2**63 - 1},
        {"message_text": None},
        {"message_text": "x" * 1600},
        {"message_text": "👋" * 1600},
        {"sender_number": "123"},
        {"sender_number": "+123456789012345"},
    ],
)
def test_fast_path_takes_items_at_every_limit(change):
    item = {**VALID, **change}
    assert load_valid_create(item) == MessageCreateSchema().load(item)


@pytest.mark.parametrize(
    "change",
    [
        {"account_id": 0},
        {"account_id": 2**63},
        {"account_id": True},
        {"account_id": 42.0},
        {"account_id": "42"},
        {"message_text": "x" * 1601},
        {"message_text": "a\ud800"},
        {"message_text": 5},
        {"sender_number": "12"},
        {"sender_number": "+1234567890123456"},
        {"receiver_number": "555-CALL"},
        {"receiver_number": 5557654},
        {"colour": "blue"},
    ],
)
def test_fast_path_leaves_every_bad_item_to_the_schema(change):
    item = {**VALID, **change}
    assert load_valid_create(item) is None
    with pytest.raises(ma.ValidationError):
        MessageCreateSchema().load(item)


@pytest.mark.parametrize("missing", ["account_id", "sender_number", "receiver_number"])
def test_fast_path_leaves_an_item_missing_a_field_to_the_schema(missing):
    item = {key: value for key, value in VALID.items() if key != missing}
    assert load_valid_create(item) is None

"""Idempotent create: the Idempotency-Key header makes retries of ``POST /v1/create`` safe."""

from __future__ import annotations

import threading

import pytest

BODY = {
    "account_id": 21,
    "sender_number": "+15551230001",
    "receiver_number": "+15559870001",
    "message_text": "once",
}


def post(client, key, body=None):
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post("/v1/create", json=body or BODY, headers=headers)


def stored_ids(client, account_id=BODY["account_id"]):
    return [m["message_id"] for m in client.get(f"/v1/get/messages/{account_id}").get_json()]


def test_retry_with_same_key_replays_the_original(client):
    first = post(client, "key-1")
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers

    retry = post(client, "key-1")

    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json() == first.get_json()
    assert stored_ids(client) == [first.get_json()["message_id"]]


def test_retry_spelling_numbers_differently_is_the_same_request(client):
    first = post(client, "key-2").get_json()
    retry = post(client, "key-2", {**BODY, "sender_number": "+1 (555) 123-0001"})
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json()["message_id"] == first["message_id"]


@pytest.mark.parametrize(
    "change",
    [
        {"message_text": "twice"},
        {"message_text": None},
        {"receiver_number": "+15559870002"},
        {"sender_number": "+15551230002"},
    ],
)
def test_same_key_with_different_body_is_422(client, change):
    first = post(client, "key-3").get_json()
    response = post(client, "key-3", {**BODY, **change})
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert list(response.get_json()["errors"]) == ["Idempotency-Key"]
    assert stored_ids(client) == [first["message_id"]]


def test_key_is_unique_per_account(client):
    one = post(client, "shared-key").get_json()
    other = post(client, "shared-key", {**BODY, "account_id": 22})
    assert other.status_code == 200
    assert "Idempotent-Replayed" not in other.headers
    assert other.get_json()["message_id"] != one["message_id"]
    assert stored_ids(client, 22) == [other.get_json()["message_id"]]


def test_keys_differing_only_in_case_are_different_keys(client):
    lower = post(client, "abc-key").get_json()
    upper = post(client, "ABC-KEY")
    assert upper.status_code == 200
    assert "Idempotent-Replayed" not in upper.headers
    assert upper.get_json()["message_id"] != lower["message_id"]


def test_creates_without_key_are_never_merged(client):
    ids = {post(client, None).get_json()["message_id"] for _ in range(3)}
    assert len(ids) == 3


def test_key_of_a_deleted_message_can_be_used_again(client):
    first = post(client, "key-4").get_json()
    assert client.delete(f"/v1/messages/{first['message_id']}").status_code == 204
    again = post(client, "key-4")
    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers
    assert again.get_json()["message_id"] != first["message_id"]


def test_deleting_another_message_leaves_a_key_in_place(client):
    keyed = post(client, "key-5").get_json()
    other = post(client, None).get_json()
    assert client.delete(f"/v1/messages/{other['message_id']}").status_code == 204
    assert post(client, "key-5").get_json() == keyed


@pytest.mark.parametrize("key", ["a", "x" * 255, "order 17/retry:1", "~!@#$%^&*()_+{}|<>?"])
def test_accepts_keys_of_printable_ascii(client, key):
    assert post(client, key).status_code == 200
    assert post(client, key).headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there", "bell\x07"])
def test_rejects_bad_key(client, key):
    response = post(client, key)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["Idempotency-Key"]
    assert stored_ids(client) == []


def test_concurrent_requests_with_one_key_store_one_message(app):
    """Threads, each with its own client and database session, race on the same keys."""
    threads_per_key, keys = 8, 4
    results: dict[str, list] = {f"race-{n}": [] for n in range(keys)}
    for key, outcomes in results.items():
        barrier = threading.Barrier(threads_per_key)

        def attempt(key=key, outcomes=outcomes, barrier=barrier):
            client = app.test_client()
            barrier.wait()
            response = post(client, key)
            outcomes.append(
                (
                    response.status_code,
                    response.headers.get("Idempotent-Replayed"),
                    response.get_json(),
                )
            )

        threads = [threading.Thread(target=attempt) for _ in range(threads_per_key)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    client = app.test_client()
    stored = stored_ids(client)
    assert len(stored) == keys
    for key, outcomes in results.items():
        assert len(outcomes) == threads_per_key, key
        statuses = sorted(status for status, _, _ in outcomes)
        assert set(statuses) <= {200, 409}, outcomes
        answered = [body for status, _, body in outcomes if status == 200]
        assert len({body["message_id"] for body in answered}) == 1, key
        assert answered[0]["message_id"] in stored
        # exactly one request stored it; every other 200 says it replayed
        fresh = [replayed for status, replayed, _ in outcomes if status == 200 and not replayed]
        assert len(fresh) == 1, outcomes

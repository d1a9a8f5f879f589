"""problem+json on every error path: routing, validation, an unreachable database, a bug."""

from __future__ import annotations

import time

import pytest

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.content_type == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert isinstance(body["detail"], str)
    return body


def test_unknown_route_is_problem_404(client):
    assert_problem(client.get("/v2/anything"), 404)


def test_wrong_method_is_problem_405_with_allow(client):
    response = client.put("/v1/create", json={})
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_validation_failure_names_each_bad_field(client):
    body = assert_problem(
        client.post("/v1/create", json={"account_id": 0, "sender_number": "x"}), 422
    )
    assert set(body["errors"]) == {"account_id", "sender_number", "receiver_number"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/create", {"account_id": 1, "sender_number": "123", "receiver_number": "456"}),
        ("get", "/v1/get/messages/1", None),
        ("get", "/v1/search?sender_number=123", None),
    ],
)
def test_unreachable_database_is_fast_503_with_retry_after(unreachable_app, method, path, body):
    client = unreachable_app.test_client()
    started = time.monotonic()
    response = getattr(client, method)(path, json=body)
    assert time.monotonic() - started < 3
    problem = assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0
    assert "127.0.0.1" not in problem["detail"]


def test_liveness_does_not_need_the_database(unreachable_app):
    response = unreachable_app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_unexpected_error_is_500_with_request_id_and_no_internals(app, client):
    def broken():
        raise RuntimeError("secret internal detail")

    app.add_url_rule("/broken", view_func=broken)
    response = client.get("/broken", headers={"X-Request-ID": "trace-me-123"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "trace-me-123"
    assert "trace-me-123" in body["detail"]
    text = response.get_data(as_text=True)
    assert "secret internal detail" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 1000}])
def test_a_body_over_the_limit_is_413_naming_the_limit_in_bytes(client):
    body = {"account_id": 1, "sender_number": "+15551230001", "receiver_number": "+15559870001"}
    body["message_text"] = "x" * 1200
    problem = assert_problem(client.post("/v1/create", json=body), 413)
    assert "1000 bytes" in problem["detail"]
    assert "MAX_CONTENT_LENGTH" in problem["detail"]


def test_a_json_array_body_is_422_saying_an_object_is_expected(client):
    problem = assert_problem(client.post("/v1/create", json=[{"account_id": 1}]), 422)
    assert problem["errors"]["body"][0].startswith("Expected a JSON object")


def test_an_unreadable_time_is_422_showing_the_form_to_use(client):
    problem = assert_problem(client.get("/v1/search?created_after=yesterday"), 422)
    assert "2026-11-25T14:37:38Z" in problem["errors"]["created_after"][0]


def test_a_bad_list_item_is_named_by_position_and_value_with_numbers_masked(client, caplog):
    response = client.get(
        "/v1/search?message_id=019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6a,not-an-id"
        "&account_id=7,seven&sender_number=%2B15551234567,%2B15551234567890123"
    )
    errors = assert_problem(response, 422)["errors"]
    assert errors["message_id"] == ["Item 2 ('not-an-id'): Not a message id: expected a UUID."]
    assert errors["account_id"] == ["Item 2 ('seven'): Not a valid integer."]
    [number_error] = errors["sender_number"]
    assert number_error.startswith("Item 2 (+1555**********123): Not a phone number")
    assert "15551234567890123" not in response.get_data(as_text=True) + caplog.text

"""problem+json on every error path: routing, validation, an unreachable database, a bug."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.database_agnostic

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
    assert response.get_json() == {"status": "ok"}


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

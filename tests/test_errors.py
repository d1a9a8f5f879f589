"""problem+json on every error path: routing, validation, an unreachable database, a bug."""

from __future__ import annotations

import time

import pymysql
import pytest
from flask_smorest import abort
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from messaging import create_app
from messaging.conflicts import WriteConflictError
from messaging.protocol import (
    DATABASE_FAILED_DETAIL,
    DATABASE_UNAVAILABLE_DETAIL,
    WRITE_CONFLICT_DETAIL,
)

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


def test_error_handler_that_fails_still_answers_500_with_request_id(app, client):
    def unwritable_error():
        # A lone surrogate cannot be written as UTF-8: the 422's own handler fails on it.
        abort(422, messages={"json": {"\ud800": ["Unknown field."]}})

    app.add_url_rule("/unwritable", view_func=unwritable_error)
    # As in production: testing mode would re-raise the handler's own failure to the test.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/unwritable", headers={"X-Request-ID": "trace-me-456"})
    body = assert_problem(response, 500)
    assert body["request_id"] == "trace-me-456"
    assert response.headers["X-Request-ID"] == "trace-me-456"


def test_untrusted_host_is_problem_400(database_url, log_file):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "LOG_FILE": str(log_file),
            "TRUSTED_HOSTS": ["api.example.com"],
        }
    )
    client = app.test_client()
    assert_problem(client.get("/v1/search", headers={"Host": "evil.example"}), 400)
    assert client.get("/v1/search", headers={"Host": "api.example.com"}).status_code == 200


def test_wrong_database_password_is_logged_as_access_denied(mariadb_database, log_file):
    url = make_url(mariadb_database).set(password="not-the-password")
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False),
            "LOG_FILE": str(log_file),
        }
    )
    response = app.test_client().get("/v1/get/messages/1")
    assert_problem(response, 503)
    assert app.test_client().get("/health/ready").status_code == 503
    logged = log_file.read_text()
    assert logged.count("access denied (check DB_USER and DB_PASSWORD)") == 2
    assert " ERROR " in logged
    assert "not-the-password" not in logged


HOSTILE_VALUES = [
    "٤٢",
    "４２",
    "4_2",
    "+42",
    " 42",
    "42\n",
    "-1",
    "9" * 30,
    "1" * 5000,
    "1e5",
    "",
    "%00",
    "%ff%fe",
    "%ed%a0%80",  # a lone surrogate, UTF-8 encoded
    "..%2f..%2fetc%2fpasswd",
    "%0d%0aX-Injected:%201",
    "\u202e",
    "null",
    "[]",
    "{}",
    "' OR 1=1 --",
]
PATH_TEMPLATES = [
    "/v1/get/messages/{}",
    "/v1/messages/{}",
    "/v1/search?account_id={}",
    "/v1/search?message_id={}",
    "/v1/search?sender_number={}",
    "/v1/search?limit={}",
    "/v1/search?cursor={}",
    "/v1/search?created_after={}",
    "/v1/get/messages/1?cursor={}&limit={}",
    "/v1/{}",
    "/{}",
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "QQ1"]
HOSTILE_BODIES = [
    b"[" * 30_000 + b"]" * 30_000,
    b'{"account_id": 1' + b"0" * 5000 + b"}",
    b'{"\\ud800": 1}',
    b'{"account_id": 1, "sender_number": "\\udfff", "receiver_number": "\\ud800"}',
    b"\xff\xfe\x00",
    b"\x00" * 100,
    b'{"account_id": 1e999, "sender_number": NaN, "receiver_number": Infinity}',
    b'{"account_id": 1, "account_id": "1"}',
    b" " * 60_000,
    b"",
]
HOSTILE_HEADERS = [
    {"Host": "evil.example"},
    {"X-Request-ID": "x" * 1000},
    {"Idempotency-Key": "\u00e9" * 300},
    {"Content-Type": "application/json; charset=utf-16"},
    {"Content-Type": "multipart/form-data; boundary=x"},
    {"Authorization": "Bearer \u00ff"},
    {"Accept": "text/html"},
]


def assert_no_5xx_and_problems_only(response, request: str) -> None:
    assert response.status_code < 500, request
    assert response.headers.get("X-Request-ID"), request
    if response.status_code >= 400 and response.data:
        assert response.content_type == PROBLEM, request


def test_no_hostile_request_gets_a_5xx_and_every_error_is_a_problem(client, create):
    made = create()
    for template in PATH_TEMPLATES:
        for value in HOSTILE_VALUES:
            path = template.replace("{}", value)
            for method in METHODS:
                response = client.open(path, method=method)
                assert_no_5xx_and_problems_only(response, f"{method} {path!r}")
    for body in HOSTILE_BODIES:
        for content_type in ("application/json", None):
            response = client.post("/v1/create", data=body, content_type=content_type)
            assert_no_5xx_and_problems_only(response, f"POST {body[:40]!r} as {content_type}")
    for headers in HOSTILE_HEADERS:
        for method, path in (
            ("POST", "/v1/create"),
            ("GET", "/v1/search?limit=1"),
            ("DELETE", f"/v1/messages/{made['message_id']}"),
        ):
            response = client.open(path, method=method, headers=headers, json={"account_id": 1})
            assert_no_5xx_and_problems_only(response, f"{method} {path} with {headers}")


@pytest.mark.parametrize(
    ("code", "status", "detail"),
    [
        (1213, 409, WRITE_CONFLICT_DETAIL),  # deadlock victim, or a failed Galera certification
        (1205, 409, WRITE_CONFLICT_DETAIL),  # lock wait timeout
        (2003, 503, DATABASE_UNAVAILABLE_DETAIL),  # cannot connect
        (1047, 503, DATABASE_UNAVAILABLE_DETAIL),  # Galera node not ready
        (1030, 503, DATABASE_FAILED_DETAIL),  # the storage engine failed
    ],
)
def test_database_errors_are_told_apart(app, code, status, detail):
    error = sa_exc.OperationalError("SELECT 1", {}, pymysql.err.OperationalError(code, "x"))
    with app.test_request_context():
        response = app.handle_user_exception(error)
    assert response.status_code == status
    assert response.get_json()["detail"] == detail
    assert response.headers["Retry-After"]
    if status == 409:
        assert "conflict, retry" in detail
        assert "reach" not in detail


def test_a_write_that_keeps_losing_is_a_409_conflict(app):
    with app.test_request_context():
        response = app.handle_user_exception(WriteConflictError())
    assert response.status_code == 409
    assert response.get_json()["detail"] == WRITE_CONFLICT_DETAIL

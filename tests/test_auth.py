"""auth.py: with AUTH_ENABLED every /v1 route needs a bearer token, and a key sees its account."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, select

from messaging import create_app
from messaging.auth import warn_when_disabled
from messaging.config import settings_from_env
from messaging.extensions import db
from messaging.models import Message

BODY = {"sender_number": "+15551230001", "receiver_number": "+15559870001"}


@pytest.fixture
def app_config():
    return {"AUTH_ENABLED": True}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def alice(make_key):
    return bearer(make_key("--account-id", "1"))


@pytest.fixture
def bob(make_key):
    return bearer(make_key("--account-id", "2"))


@pytest.fixture
def admin(make_key):
    return bearer(make_key("--admin"))


def create(client, headers, account_id, **fields):
    response = client.post(
        "/v1/create", json={**BODY, "account_id": account_id, **fields}, headers=headers
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(response):
    assert response.status_code == 200, response.get_json()
    return [m["message_id"] for m in response.get_json()]


# --- the warning at start ---------------------------------------------------------------------


@pytest.mark.database_agnostic
def test_warning_when_auth_is_off_comes_from_the_server_start_not_each_app(
    database_url, tmp_path, caplog
):
    # Each gunicorn worker and each CLI command builds an app: the warning is the master's
    # (gunicorn.conf.py; tests/test_gunicorn.py sees it once per server).
    log_file = tmp_path / "off.log"
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "LOG_FILE": str(log_file)})
    app.test_client().get("/health")
    assert "AUTH_ENABLED" not in log_file.read_text()
    warn_when_disabled(settings_from_env({}))
    warnings = [r for r in caplog.records if "AUTH_ENABLED is off" in r.getMessage()]
    assert [r.levelname for r in warnings] == ["WARNING"]


@pytest.mark.database_agnostic
def test_no_warning_when_auth_is_on(client, log_file):
    client.get("/health")
    log = log_file.read_text()
    assert "GET /health 200" in log
    assert "AUTH_ENABLED" not in log


def test_revoked_key_is_refused(client, runner, make_key):
    token = make_key("--admin")
    assert client.get("/v1/search", headers=bearer(token)).status_code == 200
    key_id = runner.invoke(args=["api-key", "list"]).output.splitlines()[1].split()[0]

    result = runner.invoke(args=["api-key", "revoke", key_id])

    assert result.exit_code == 0, result.output
    assert "revoked" in result.output
    response = client.get("/v1/search", headers=bearer(token))
    assert response.status_code == 401
    assert "revoked" in runner.invoke(args=["api-key", "list"]).output


# --- authentication -----------------------------------------------------------------------------

V1_ROUTES = [
    ("post", "/v1/create"),
    ("get", "/v1/get/messages/1"),
    ("get", "/v1/search"),
    ("get", f"/v1/messages/{uuid.uuid4()}"),
    ("delete", f"/v1/messages/{uuid.uuid4()}"),
]


@pytest.mark.parametrize(("method", "url"), V1_ROUTES)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer msk_not-a-real-key", "Token abc"],
)
def test_v1_routes_refuse_missing_or_bad_keys(client, make_key, method, url, authorization):
    make_key("--admin")  # a valid key exists; these requests just do not carry it
    headers = {} if authorization is None else {"Authorization": authorization}
    response = getattr(client, method)(url, json={**BODY, "account_id": 1}, headers=headers)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["status"] == 401


def test_bearer_scheme_is_case_insensitive(client, make_key):
    token = make_key("--admin")
    assert client.get("/v1/search", headers={"Authorization": f"bearer {token}"}).status_code == 200


@pytest.mark.parametrize("url", ["/health", "/health/ready", "/metrics", "/openapi.json", "/docs"])
def test_health_metrics_and_docs_stay_open(client, url):
    assert client.get(url).status_code == 200


def test_tokens_never_reach_the_logs(client, make_key, log_file):
    token = make_key("--account-id", "1")
    create(client, bearer(token), 1)
    client.get("/v1/search", headers=bearer(token))
    client.get("/v1/search", headers=bearer(token + "x"))
    client.post("/v1/create", json={**BODY, "account_id": 2}, headers=bearer(token))
    log = log_file.read_text()
    assert "/v1/search" in log
    assert token not in log


# --- account scope ------------------------------------------------------------------------------


def test_account_key_creates_only_for_its_account(app, client, alice):
    assert create(client, alice, 1)["account_id"] == 1
    response = client.post("/v1/create", json={**BODY, "account_id": 2}, headers=alice)
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    with app.app_context():
        assert db.session.scalars(select(Message.account_id)).all() == [1]


def test_account_key_sees_only_its_own_messages(app, client, alice, bob):
    mine = create(client, alice, 1, message_text="alice")
    theirs = create(client, bob, 2, message_text="bob")

    assert client.get(f"/v1/messages/{mine['message_id']}", headers=alice).status_code == 200
    other = client.get(f"/v1/messages/{theirs['message_id']}", headers=alice)
    assert other.status_code == 404
    assert "bob" not in other.get_data(as_text=True)

    assert ids(client.get("/v1/get/messages/1", headers=alice)) == [mine["message_id"]]
    assert ids(client.get("/v1/get/messages/2", headers=alice)) == []
    assert ids(client.get("/v1/search", headers=alice)) == [mine["message_id"]]
    assert ids(client.get("/v1/search?account_id=2", headers=alice)) == []
    assert ids(client.get("/v1/search?account_id=1,2", headers=alice)) == [mine["message_id"]]
    assert ids(client.get(f"/v1/search?message_id={theirs['message_id']}", headers=alice)) == []
    assert ids(client.get("/v1/search?sender_number=%2B15551230001", headers=alice)) == [
        mine["message_id"]
    ]


def test_account_key_cannot_delete_another_accounts_message(app, client, alice, bob):
    theirs = create(client, bob, 2)
    assert client.delete(f"/v1/messages/{theirs['message_id']}", headers=alice).status_code == 404
    assert client.get(f"/v1/messages/{theirs['message_id']}", headers=bob).status_code == 200
    assert client.delete(f"/v1/messages/{theirs['message_id']}", headers=bob).status_code == 204


def test_account_key_pages_stay_in_its_account(client, alice, bob):
    mine = [create(client, alice, 1)["message_id"] for _ in range(5)]
    for _ in range(5):
        create(client, bob, 2)
    url, seen = "/v1/search?limit=2", []
    while url:
        response = client.get(url, headers=alice)
        seen += ids(response)
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    assert seen == mine[::-1]


def test_admin_key_acts_for_every_account(client, admin, alice):
    a = create(client, admin, 1)
    b = create(client, admin, 2)
    assert set(ids(client.get("/v1/search", headers=admin))) == {a["message_id"], b["message_id"]}
    assert client.get(f"/v1/messages/{a['message_id']}", headers=admin).status_code == 200
    assert ids(client.get("/v1/get/messages/2", headers=admin)) == [b["message_id"]]
    assert client.delete(f"/v1/messages/{b['message_id']}", headers=admin).status_code == 204


def test_a_create_with_a_key_uses_one_pooled_connection(app, client, alice):
    """The key lookup and the INSERT share the request's connection: one checkout, one pre-ping."""
    checkouts = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: checkouts.append(args)  # noqa: E731
    event.listen(engine, "checkout", listener)
    try:
        assert create(client, alice, 1)["account_id"] == 1
    finally:
        event.remove(engine, "checkout", listener)
    assert len(checkouts) == 1

"""Faults: the database vanishing and coming back, a worker killed mid-request.

The outage tests put ``TcpProxy`` between the service and MariaDB and cut it:
every route that needs the database must then answer 503 problem+json with
``Retry-After`` quickly, and recover by itself when the proxy forwards again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pymysql
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from messaging.config import MYSQL_READ_TIMEOUT
from messaging.errors import PROBLEM_MIMETYPE
from tests.servers import HttpResponse, RunningServer, http_request

OUTAGE_DEADLINE_SECONDS = 3.0
WORKERS = 4
CLIENTS = 16

DATABASE_ROUTES = (
    ("POST", "/v1/create"),
    ("GET", "/v1/get/messages/77"),
    ("GET", "/v1/search?sender_number=%2B15551230077"),
)
MESSAGE = {"account_id": 77, "sender_number": "+15551230077", "receiver_number": "+15559870077"}


def call(server: RunningServer, method: str, path: str) -> HttpResponse:
    if method == "POST":
        return server.post(path, MESSAGE)
    return server.get(path)


def call_every_route(server: RunningServer, rounds: int) -> list[HttpResponse]:
    """Each database route ``rounds`` times, concurrently, so that every worker is hit."""
    requests = [route for route in DATABASE_ROUTES for _ in range(rounds)]
    with ThreadPoolExecutor(CLIENTS) as clients:
        return list(clients.map(lambda route: call(server, *route), requests))


def scraped_value(server: RunningServer, sample_name: str) -> float:
    """A sample of ``/metrics``, summed over all workers' label sets."""
    exposition = server.get("/metrics").body.decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == sample_name
    )


def assert_http_unavailable(response: HttpResponse) -> None:
    assert response.status == 503, response.body
    assert response.headers["Content-Type"] == PROBLEM_MIMETYPE
    assert int(response.headers["Retry-After"]) > 0
    assert response.elapsed < OUTAGE_DEADLINE_SECONDS


@pytest.mark.slow
def test_database_outage_gives_quick_503s_and_recovers_without_restart(
    start_server, database_proxy, proxied_database_url
):
    server = start_server(DATABASE_URL=proxied_database_url, WEB_CONCURRENCY=str(WORKERS))
    # Warm every worker's pool: the connections it holds go stale during the outage.
    assert {response.status for response in call_every_route(server, rounds=12)} == {200}
    assert server.get("/health/ready").status == 200
    before = server.post("/v1/create", MESSAGE).json()["message_id"]

    database_proxy.cut()
    for response in call_every_route(server, rounds=8):
        assert_http_unavailable(response)
    ready = server.get("/health/ready")
    assert ready.status == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.elapsed < OUTAGE_DEADLINE_SECONDS
    assert server.get("/health").status == 200

    database_proxy.restore()
    # The very next requests succeed: stale pooled connections are replaced, not used.
    assert [response.status for response in call_every_route(server, rounds=8)] == [200] * 24
    assert server.get("/health/ready").json() == {"status": "ok", "database": "ok"}
    found = server.get(f"/v1/search?message_id={before}").json()
    assert [message["message_id"] for message in found] == [before]
    assert server.process.poll() is None
    # 24 requests and one readiness check met the outage, in whichever workers.
    assert scraped_value(server, "messaging_database_errors_total") == 25


@pytest.mark.slow
def test_database_that_stops_answering_gives_quick_503s_and_recovers(
    start_server, database_proxy, proxied_database_url
):
    server = start_server(DATABASE_URL=proxied_database_url, WEB_CONCURRENCY="2")
    assert {response.status for response in call_every_route(server, rounds=6)} == {200}
    database_proxy.blackhole()
    # One at a time: each answer's own time counts, not time queued behind others.
    for method, path in DATABASE_ROUTES * 2:
        assert_http_unavailable(call(server, method, path))
    ready = server.get("/health/ready")
    assert ready.status == 503
    assert ready.elapsed < OUTAGE_DEADLINE_SECONDS
    assert server.get("/health").status == 200
    database_proxy.restore()
    assert [response.status for response in call_every_route(server, rounds=4)] == [200] * 12
    assert server.get("/health/ready").status == 200


def find_messages(server: RunningServer, message_ids: list[str]) -> set[str]:
    """The ids among ``message_ids`` that the API finds, asked 100 at a time."""
    found: set[str] = set()
    for start in range(0, len(message_ids), 100):
        chunk = message_ids[start : start + 100]
        response = server.get(f"/v1/search?limit=1000&message_id={quote(','.join(chunk))}")
        assert response.status == 200
        found.update(message["message_id"] for message in response.json())
    return found


@pytest.mark.slow
def test_worker_killed_mid_creates_loses_no_acknowledged_message(start_server, mariadb_database):
    server = start_server(DATABASE_URL=mariadb_database, WEB_CONCURRENCY=str(WORKERS))
    workers = server.wait_for_workers(WORKERS)
    attempts = 240
    acknowledged: list[str] = []
    failed = 0
    lock = threading.Lock()
    halfway = threading.Event()

    def create(number: int) -> None:
        nonlocal failed
        body = {**MESSAGE, "account_id": 88, "message_text": f"crash {number}"}
        try:
            response = server.post("/v1/create", body)
        except OSError:
            response = None
        with lock:
            if response is not None and response.status == 200:
                acknowledged.append(response.json()["message_id"])
            else:
                failed += 1
            if len(acknowledged) + failed >= attempts // 3:
                halfway.set()

    with ThreadPoolExecutor(CLIENTS) as clients:
        pending = [clients.submit(create, number) for number in range(attempts)]
        assert halfway.wait(60)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        for future in pending:
            future.result()

    assert len(acknowledged) + failed == attempts
    assert len(acknowledged) > attempts // 3
    replacement = server.wait_for_workers(WORKERS)
    assert victim not in replacement
    assert find_messages(server, acknowledged) == set(acknowledged)
    # Counters written by the dead worker still count.
    created = scraped_value(server, "messaging_messages_created_total")
    assert len(acknowledged) <= created <= attempts
    # And the service keeps serving.
    statuses = [server.post("/v1/create", MESSAGE).status for _ in range(2 * WORKERS)]
    assert statuses == [200] * (2 * WORKERS)


def walk_account(server: RunningServer, account_id: int) -> list[dict]:
    """Every message of the account, following ``Link`` pages to the end."""
    messages: list[dict] = []
    url: str | None = server.url(f"/v1/get/messages/{account_id}?limit=1000")
    while url:
        response = server.get(url.removeprefix(server.base_url))
        assert response.status == 200
        messages.extend(response.json())
        url = response.next_link()
    return messages


@pytest.mark.slow
def test_no_acknowledged_create_is_lost_or_stored_twice_while_the_database_drops_twice(
    start_server, database_proxy, proxied_database_url
):
    server = start_server(DATABASE_URL=proxied_database_url, WEB_CONCURRENCY=str(WORKERS))
    creates, account_id = 2000, 99
    acknowledged: dict[int, str] = {}
    retried: list[int] = []
    lock = threading.Lock()
    give_up = time.monotonic() + 240

    def create(number: int) -> None:
        body = {**MESSAGE, "account_id": account_id, "message_text": f"no-loss {number}"}
        key = {"Idempotency-Key": f"no-loss-{number}"}
        while time.monotonic() < give_up:
            try:
                response = server.post("/v1/create", body, headers=key)
            except OSError:
                response = None  # the connection dropped: the create may or may not be stored
            if response is not None and response.status == 200:
                with lock:
                    acknowledged[number] = response.json()["message_id"]
                return
            # 503 (database gone) or 409 (the same key still in flight): retry the same
            # key. Sooner than Retry-After asks, to keep the test short.
            with lock:
                retried.append(number)
            time.sleep(0.2)
        raise AssertionError(f"create {number} was never acknowledged")

    def drop_database_twice() -> None:
        for threshold in (creates // 4, creates * 5 // 8):
            while len(acknowledged) < threshold and time.monotonic() < give_up:
                time.sleep(0.01)
            database_proxy.cut()
            time.sleep(1.0)
            database_proxy.restore()

    chaos = threading.Thread(target=drop_database_twice)
    chaos.start()
    with ThreadPoolExecutor(CLIENTS) as clients:
        for future in [clients.submit(create, number) for number in range(creates)]:
            future.result()
    chaos.join()

    assert len(acknowledged) == creates
    assert retried, "the outages must have hit requests in flight"
    stored = walk_account(server, account_id)
    assert len(stored) == creates
    assert {message["message_id"]: message["message_text"] for message in stored} == {
        message_id: f"no-loss {number}" for number, message_id in acknowledged.items()
    }


@pytest.mark.slow
def test_table_locked_past_the_read_timeout_gives_503_problem_on_every_route(
    start_server, mariadb_database
):
    routes = [
        ("POST", "/v1/create", None),
        ("POST", "/v1/create", {"Idempotency-Key": "locked-1"}),
        ("GET", "/v1/get/messages/77", None),
        ("GET", "/v1/search?sender_number=%2B15551230077", None),
        ("GET", "/v1/messages/{message_id}", None),
        ("DELETE", "/v1/messages/{message_id}", None),
    ]
    server = start_server(DATABASE_URL=mariadb_database, WEB_CONCURRENCY=str(len(routes)))
    server.wait_for_workers(len(routes))
    body = {**MESSAGE, "message_text": "the vault code is 4711"}
    message_id = server.post("/v1/create", body).json()["message_id"]

    def send(route: tuple[str, str, dict | None]) -> HttpResponse:
        method, path, headers = route
        return http_request(
            server.url(path.format(message_id=message_id)),
            method,
            json_body=body if method == "POST" else None,
            headers=headers,
        )

    url = make_url(mariadb_database)
    locker = pymysql.connect(
        host=url.host,
        port=url.port or 3306,
        user=url.username,
        password=url.password or "",
        database=url.database,
    )
    try:
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLES messages WRITE")
        # Each request waits on the lock in a worker of its own until its read timeout.
        with ThreadPoolExecutor(len(routes)) as clients:
            responses = list(clients.map(send, routes))
    finally:
        locker.close()

    for response in responses:
        assert response.status == 503, response.body
        assert response.headers["Content-Type"] == PROBLEM_MIMETYPE
        assert int(response.headers["Retry-After"]) > 0
        assert response.elapsed < MYSQL_READ_TIMEOUT + OUTAGE_DEADLINE_SECONDS
    assert server.get(f"/v1/messages/{message_id}").status == 200
    logged = server.console_text() + (server.workdir / "logs" / "app.log").read_text()
    assert "Error handling request" not in logged
    for secret in ("+15551230077", "15551230077", "4711"):
        assert secret not in logged

"""The service on a 3-node MariaDB Galera Cluster: one instance per node, writes through all.

The session starts the cluster with ``scripts/galera-cluster.sh`` (under a minute when the
base directory is new) and one gunicorn per node, and stops what it started at the end. The
tests start three MariaDB servers, so locally they run only with ``GALERA_TESTS=1``; under
CI they always run, and a cluster that cannot start fails them instead of skipping.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from messaging import create_app
from messaging.config import settings_from_env
from messaging.extensions import db
from messaging.galera import sync_wait_for
from messaging.mysql_errors import MYSQL_DEADLOCK, mysql_error_code
from tests.conftest import reset_schema
from tests.servers import (
    REPO_ROOT,
    VENV_BIN,
    HttpResponse,
    RunningServer,
    running_server,
    server_environment,
)

pytestmark = [pytest.mark.galera, pytest.mark.slow]

CLUSTER_SCRIPT = REPO_ROOT / "scripts" / "galera-cluster.sh"
NODES = (1, 2, 3)
DATABASE = "messaging_galera"
# Each instance as small as the machine allows: three instances and three nodes share it.
WORKERS_PER_INSTANCE = "2"
CLUSTER_START_TIMEOUT_SECONDS = 300
BODY = {"sender_number": "+15551230001", "receiver_number": "+15559870001"}


def cluster_script(*args: str, timeout: float = CLUSTER_START_TIMEOUT_SECONDS) -> str:
    """Run the cluster script; its output, or ``AssertionError`` with it when it fails."""
    result = subprocess.run(
        [str(CLUSTER_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"galera-cluster.sh {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout


def node_url(node: int, database: str = DATABASE) -> str:
    return cluster_script("url", str(node), database).strip()


@dataclass
class Cluster:
    """The running cluster: a SQLAlchemy engine per node, and ways to crash and restart one."""

    engines: dict[int, Engine] = field(default_factory=dict)

    def engine(self, node: int) -> Engine:
        if node not in self.engines:
            # Reads that check what the service stored must see every commit made anywhere.
            self.engines[node] = create_engine(
                node_url(node), connect_args={"init_command": "SET SESSION wsrep_sync_wait=1"}
            )
        return self.engines[node]

    def scalar(self, node: int, sql: str, **params: object) -> object:
        with self.engine(node).connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def rows(self, node: int, sql: str, **params: object) -> list[tuple]:
        with self.engine(node).connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]

    def conflicts(self) -> int:
        """Transactions the nodes have rolled back for conflicts so far: failed certifications
        and local transactions aborted by replicated ones, summed over the nodes."""
        return sum(
            int(value)
            for node in NODES
            for _, value in self.rows(
                node,
                "SHOW GLOBAL STATUS WHERE variable_name IN"
                " ('wsrep_local_cert_failures', 'wsrep_local_bf_aborts')",
            )
        )

    def kill_node(self, node: int) -> None:
        cluster_script("kill-node", str(node))
        engine = self.engines.pop(node, None)
        if engine is not None:
            engine.dispose()

    def start_node(self, node: int) -> None:
        cluster_script("start-node", str(node))

    def dispose(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


def cluster_cannot_run(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the galera tests must run in CI: {reason}")
    pytest.skip(reason)


def node_is_running(node: int) -> bool:
    status = cluster_script("status").splitlines()[node]
    return status.split()[3] == "Synced"


@pytest.fixture(scope="session")
def galera_cluster() -> Iterator[Cluster]:
    """The 3-node cluster, started unless it already runs; stopped at the end if started here."""
    if not (os.environ.get("GALERA_TESTS") or os.environ.get("CI")):
        pytest.skip("galera tests start a 3-node MariaDB cluster: run them with GALERA_TESTS=1")
    already_running = [node for node in NODES if node_is_running(node)]
    try:
        cluster_script("start")
    except (AssertionError, subprocess.TimeoutExpired) as error:
        cluster_cannot_run(f"the cluster did not start: {error}")
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.dispose()
        if len(already_running) < len(NODES):
            cluster_script("stop")


@pytest.fixture(scope="session")
def galera_database(galera_cluster: Cluster) -> str:
    """The service's database on the cluster, migrated from nothing (DDL replicates to all)."""
    with create_engine(node_url(1, "")).connect() as connection:
        connection.execute(
            text(
                f"CREATE DATABASE IF NOT EXISTS {DATABASE}"
                " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        )
    reset_schema(node_url(1))
    return DATABASE


@pytest.fixture(scope="session")
def services(
    galera_cluster: Cluster, galera_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[RunningServer]]:
    """One service instance per node: ``services[i]`` writes through node ``i + 1``."""
    workdir = tmp_path_factory.mktemp("galera-services")
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                running_server(
                    workdir / f"node{node}",
                    {
                        "DATABASE_URL": node_url(node),
                        "WEB_CONCURRENCY": WORKERS_PER_INSTANCE,
                        "LOG_LEVEL": "WARNING",
                    },
                )
            )
            for node in NODES
        ]


@pytest.fixture(autouse=True)
def empty_messages(request: pytest.FixtureRequest) -> None:
    """Each test on the cluster starts with no messages (tests without it need no cluster)."""
    if "galera_cluster" not in request.fixturenames:
        return
    request.getfixturevalue("galera_database")
    with request.getfixturevalue("galera_cluster").engine(1).begin() as connection:
        connection.execute(text("DELETE FROM messages"))
        connection.execute(text("DELETE FROM idempotency_keys"))


def create(
    service: RunningServer, account_id: int, message_text: str, key: str | None = None
) -> HttpResponse:
    headers = {} if key is None else {"Idempotency-Key": key}
    body = {**BODY, "account_id": account_id, "message_text": message_text}
    return service.post("/v1/create", body, headers=headers)


def concurrently(calls: list[Callable[[], HttpResponse]], clients: int) -> list[HttpResponse]:
    """Run every call, ``clients`` at a time; their responses in order."""
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda call: call(), calls))


def create_until_stored(service: RunningServer, account_id: int, message_text: str) -> str:
    """What a careful client does: retry a 503 with the same Idempotency-Key until it is stored."""
    key = str(uuid.uuid4())
    for _ in range(50):
        response = create(service, account_id, message_text, key)
        if response.status == 200:
            return response.json()["message_id"]
        assert response.status == 503, response.body
        time.sleep(0.05)
    raise AssertionError(f"create for {message_text} never succeeded")


def walk_pages(service: RunningServer, account_id: int, limit: int) -> list[str]:
    """Every message id of the account as the list's pages give them, following ``Link``."""
    seen: list[str] = []
    response = service.get(f"/v1/get/messages/{account_id}?limit={limit}")
    while True:
        assert response.status == 200, response.body
        seen += [message["message_id"] for message in response.json()]
        next_url = response.next_link()
        if next_url is None:
            return seen
        response = service.get(next_url.removeprefix(service.base_url))


def test_one_idempotency_key_through_every_node_stores_one_message(
    services: list[RunningServer], galera_cluster: Cluster
) -> None:
    key = str(uuid.uuid4())
    calls = [lambda s=service: create(s, 31, "once", key) for service in services * 3]

    responses = concurrently(calls, clients=len(calls))

    assert [response.status for response in responses] == [200] * len(calls)
    assert len({response.json()["message_id"] for response in responses}) == 1
    assert galera_cluster.scalar(2, "SELECT COUNT(*) FROM messages WHERE account_id = 31") == 1


def test_page_walks_through_any_node_are_complete_and_exactly_once(
    services: list[RunningServer], galera_cluster: Cluster
) -> None:
    account_id = 32
    calls = [
        lambda s=services[n % 3], n=n: create_until_stored(s, account_id, f"walk {n}")
        for n in range(90)
    ]
    with ThreadPoolExecutor(6) as pool:
        stored = set(pool.map(lambda call: call(), calls))

    # Creates go on through every node while the walks read: the walks must still hold every
    # message stored before they began, each once.
    stop = threading.Event()

    def keep_creating(service: RunningServer) -> None:
        while not stop.is_set():
            create_until_stored(service, account_id, "during the walk")

    with ThreadPoolExecutor(3) as writers:
        for service in services:
            writers.submit(keep_creating, service)
        try:
            walks = [walk_pages(service, account_id, limit=7) for service in services]
        finally:
            stop.set()

    for walk in walks:
        assert [id for id, count in Counter(walk).items() if count > 1] == []
        assert stored <= set(walk)


def test_a_create_is_read_at_once_through_another_node(services: list[RunningServer]) -> None:
    def create_then_read(number: int) -> int:
        writer, reader = services[number % 3], services[(number + 1) % 3]
        message_id = create_until_stored(writer, 35, f"read me {number}")
        return reader.get(f"/v1/messages/{message_id}").status

    with ThreadPoolExecutor(3) as pool:
        statuses = Counter(pool.map(create_then_read, range(300)))

    assert statuses == {200: 300}


@pytest.mark.parametrize(("setting", "expected"), [({}, 1), ({"DB_SYNC_WAIT": "0"}, 0)])
def test_connections_to_a_galera_node_wait_for_the_cluster_before_reading(
    galera_cluster: Cluster, galera_database: str, setting: dict, expected: int
) -> None:
    config = settings_from_env({"DATABASE_URL": node_url(2), **setting})
    app = create_app({**config, "LOG_FILE": ""})
    with app.app_context(), db.engine.connect() as connection:
        value = connection.execute(text("SELECT @@SESSION.wsrep_sync_wait")).scalar_one()
        db.engine.dispose()
    assert value == expected


def test_a_server_without_galera_is_left_alone(mariadb_app) -> None:
    with mariadb_app.app_context(), db.engine.connect() as connection:
        wsrep_on = connection.execute(text("SELECT @@wsrep_on")).scalar_one()
        value = connection.execute(text("SELECT @@SESSION.wsrep_sync_wait")).scalar_one()
        server_default = connection.execute(text("SELECT @@GLOBAL.wsrep_sync_wait")).scalar_one()
    assert wsrep_on == 0
    assert value == server_default


@pytest.mark.parametrize(
    ("variables", "setting", "expected"),
    [
        ({"wsrep_on": "ON", "wsrep_sync_wait": "0"}, None, 1),
        ({"wsrep_on": "ON", "wsrep_sync_wait": "3"}, None, None),
        ({"wsrep_on": "ON", "wsrep_sync_wait": "2"}, None, 3),
        ({"wsrep_on": "ON", "wsrep_sync_wait": "1"}, 0, 0),
        ({"wsrep_on": "OFF", "wsrep_sync_wait": "0"}, 1, None),
        ({}, None, None),
    ],
)
def test_sync_wait_is_set_only_on_a_galera_node(variables, setting, expected) -> None:
    assert sync_wait_for(variables, setting) == expected


def test_keyless_creates_for_one_account_through_every_node_all_succeed(
    services: list[RunningServer], galera_cluster: Cluster
) -> None:
    calls = [lambda s=services[n % 3], n=n: create(s, 34, f"keyless {n}") for n in range(270)]
    conflicts_before = galera_cluster.conflicts()

    responses = concurrently(calls, clients=9)

    assert Counter(response.status for response in responses) == {200: 270}
    assert galera_cluster.scalar(3, "SELECT COUNT(*) FROM messages WHERE account_id = 34") == 270
    # Not one lost and retried: keyless creates share no certification key.
    assert galera_cluster.conflicts() == conflicts_before


def test_a_transaction_that_fails_certification_stores_nothing(galera_cluster: Cluster) -> None:
    """What the retries rest on: error 1213 means the whole transaction is gone."""

    def store(connection: Connection, message_id: str) -> None:
        connection.execute(
            text(
                "INSERT INTO messages (message_id, account_id, sender_number, receiver_number,"
                " created_at) VALUES (:id, 38, '+15551230001', '+15559870001', NOW(6))"
            ),
            {"id": message_id},
        )
        connection.execute(
            text(
                "INSERT INTO idempotency_keys (account_id, idempotency_key, message_id,"
                " request_hash) VALUES (38, 'contested', :id, REPEAT('0', 64))"
            ),
            {"id": message_id},
        )

    loser, winner = str(uuid.uuid4()), str(uuid.uuid4())
    with galera_cluster.engine(1).connect() as first:
        store(first, loser)
        # The same key through another node, committed first: replicated to node 1, it
        # aborts the open transaction there.
        with galera_cluster.engine(2).begin() as second:
            store(second, winner)
        with pytest.raises(OperationalError) as lost:
            first.commit()
    assert mysql_error_code(lost.value) == MYSQL_DEADLOCK
    for node in NODES:
        assert galera_cluster.rows(
            node, "SELECT message_id FROM messages WHERE account_id = 38"
        ) == [(winner,)]
        assert galera_cluster.rows(node, "SELECT message_id FROM idempotency_keys") == [(winner,)]


def test_concurrent_deletes_through_every_node_answer_one_204_and_404s(
    services: list[RunningServer],
) -> None:
    outcomes = Counter()
    for number in range(15):
        message_id = create_until_stored(services[0], 36, f"delete me {number}")
        start = threading.Barrier(len(services))

        def delete(
            service: RunningServer,
            message_id: str = message_id,
            start: threading.Barrier = start,
        ) -> int:
            start.wait()
            return service.get(f"/v1/messages/{message_id}", method="DELETE").status

        with ThreadPoolExecutor(len(services)) as pool:
            outcomes[tuple(sorted(pool.map(delete, services)))] += 1

    assert outcomes == {(204, 404, 404): 15}


def test_purge_completes_while_other_nodes_take_creates(
    services: list[RunningServer], galera_cluster: Cluster
) -> None:
    account_id = 37
    old_rows = 3000
    with galera_cluster.engine(1).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO messages (message_id, account_id, sender_number, receiver_number,"
                " created_at) SELECT UUID(), :account, '+15551230001', '+15559870001',"
                " NOW(6) - INTERVAL 2 DAY FROM seq_1_to_3000"
            ),
            {"account": account_id},
        )
    stop = threading.Event()
    statuses: Counter = Counter()

    def keep_creating(service: RunningServer) -> None:
        while not stop.is_set():
            statuses[create(service, account_id, "new").status] += 1

    with ThreadPoolExecutor(4) as writers:
        for service in services[1:] * 2:
            writers.submit(keep_creating, service)
        try:
            purge = subprocess.run(
                [
                    str(VENV_BIN / "flask"),
                    "--app",
                    "messaging",
                    "purge",
                    "--older-than",
                    "1d",
                    "--batch-size",
                    "100",
                ],
                cwd=REPO_ROOT,
                env=server_environment({"DATABASE_URL": node_url(1), "LOG_FILE": ""}),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            stop.set()

    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert f"deleted {old_rows:,} messages" in purge.stdout
    assert statuses.keys() == {200}, statuses
    assert (
        galera_cluster.scalar(
            2, "SELECT COUNT(*) FROM messages WHERE created_at < NOW() - INTERVAL 1 DAY"
        )
        == 0
    )


def test_a_node_killed_mid_load_loses_no_acknowledged_create(
    services: list[RunningServer], galera_cluster: Cluster
) -> None:
    """Careful clients write through every node while node 3 crashes and rejoins: each
    acknowledged create is there afterwards exactly once, and a failure is only ever a 503."""
    account_id = 39
    stop = threading.Event()
    acknowledged: list[str] = []
    statuses: Counter = Counter()

    def keep_creating(service: RunningServer) -> None:
        while not stop.is_set():
            key = str(uuid.uuid4())
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    response = create(service, account_id, "through a crash", key)
                except OSError:
                    statuses["no answer"] += 1
                    time.sleep(0.1)
                    continue
                statuses[response.status] += 1
                if response.status == 200:
                    acknowledged.append(response.json()["message_id"])
                    break
                time.sleep(0.1)

    with ThreadPoolExecutor(len(services) * 2) as writers:
        for service in services * 2:
            writers.submit(keep_creating, service)
        try:
            time.sleep(2)
            galera_cluster.kill_node(3)
            time.sleep(3)
        finally:
            galera_cluster.start_node(3)
            time.sleep(2)
            stop.set()

    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] > 0  # the instance on node 3 had no database for a while
    assert len(acknowledged) == len(set(acknowledged))
    for node in NODES:
        stored = galera_cluster.rows(
            node, "SELECT message_id FROM messages WHERE account_id = :account", account=account_id
        )
        assert sorted(message_id for (message_id,) in stored) == sorted(acknowledged)

"""``python -m bench.galera``: requests/s of 3 service instances on 3 Galera nodes against 1
instance on 1 node, as a ratio (README, "Running on a cluster").

Needs the cluster of ``scripts/galera-cluster.sh start`` and wrk. Creates its own database,
``messaging_bench_galera``, on the cluster (and on the standalone server, for the third
configuration), starts the instances on fixed ports below 32768 and drives each
configuration with the same mix of keyless creates and 20-row first pages, over a few
accounts, from the same total number of connections, in rounds of alternating order:

- (a) 1 instance, 2 workers, on node 1; the other nodes still apply every write;
- (b) 3 instances, 2 workers each, one per node, the connections split evenly;
- (b0) as (b), with ``DB_SYNC_WAIT=0``: what read-your-writes across nodes costs;
- (c) 1 instance on the machine's own MariaDB: no replication, but with that server's own
  settings (``BENCH_GALERA_STANDALONE``; empty skips it).

Every process shares the same CPUs here, so the ratio says what the cluster costs on one
machine, not what it gains on three. The database is dropped at the end; the exit status
is 1 when any request failed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bench import dataset, load, servers, workload
from bench.galera_conflicts import port as node_port
from bench.run import database_url, env_float, env_int, round_order, say

DATABASE = "messaging_bench_galera"
NODES = (1, 2, 3)
# Ports below the kernel's ephemeral range (32768-60999): see scripts/galera-cluster.sh.
CLUSTER_PORTS = (24180, 24181, 24182)
NO_SYNC_WAIT_PORTS = (24184, 24185, 24186)
STANDALONE_PORT = 24183
WORKERS_PER_INSTANCE = "2"
ACCOUNTS = dataset.account_ids()[:4]
PAGE_LIMIT = 20
CREATE_BODIES = 5_000


@dataclass(frozen=True)
class Settings:
    """What a run does; every field can be set from a ``BENCH_GALERA_*`` variable."""

    seconds: float = 20.0
    warmup_seconds: float = 3.0
    rounds: int = 2
    connections: int = 12
    standalone: str = "mysql+pymysql://root@127.0.0.1:3306"

    @classmethod
    def from_environment(cls) -> Settings:
        return cls(
            seconds=env_float("BENCH_GALERA_SECONDS", cls.seconds),
            warmup_seconds=env_float("BENCH_GALERA_WARMUP_SECONDS", cls.warmup_seconds),
            rounds=env_int("BENCH_GALERA_ROUNDS", cls.rounds),
            connections=env_int("BENCH_GALERA_CONNECTIONS", cls.connections),
            standalone=os.environ.get("BENCH_GALERA_STANDALONE", cls.standalone).strip(),
        )

    def command(self) -> str:
        return (
            f"BENCH_GALERA_SECONDS={self.seconds:g} BENCH_GALERA_ROUNDS={self.rounds}"
            f" BENCH_GALERA_CONNECTIONS={self.connections}"
            f" BENCH_GALERA_STANDALONE={self.standalone!r} .venv/bin/python -m bench.galera"
        )


@dataclass(frozen=True)
class Measured:
    """One configuration's run: one wrk result per instance, run at the same time."""

    key: str
    name: str
    results: list[load.Result]
    load_average: tuple[float, float, float]

    @property
    def rate(self) -> float:
        return sum(result.rate for result in self.results)

    @property
    def errors(self) -> int:
        return sum(result.errors for result in self.results)


def node_server(node: int) -> URL:
    """Node ``node``'s server (no database), at the port the cluster script gives it."""
    return URL.create("mysql+pymysql", username="root", host="127.0.0.1", port=node_port(node))


def request_lines() -> list[str]:
    """Keyless creates and 20-row first pages, in turn, over ``ACCOUNTS``."""
    targets = dataset.Targets(
        accounts=ACCOUNTS,
        deep_cursors={},
        senders=[dataset.sender_number(index) for index in range(dataset.SENDERS)],
        message_ids=[],
    )
    creates = workload.create_lines(targets, CREATE_BODIES)
    reads = [f"GET /v1/get/messages/{account}?limit={PAGE_LIMIT}" for account in ACCOUNTS]
    return workload.mixed_lines(creates, reads, count=2 * CREATE_BODIES)


def instance_environment(
    name: str, server: URL, workdir: Path, sync_wait: str = ""
) -> dict[str, str]:
    """One instance's settings: its database, two workers, a log and metrics of its own,
    and ``DB_SYNC_WAIT`` (empty: the service's default)."""
    metrics = workdir / f"metrics-{name}"
    metrics.mkdir(exist_ok=True)
    return {
        "DATABASE_URL": database_url(server, DATABASE),
        "WEB_CONCURRENCY": WORKERS_PER_INSTANCE,
        "LOG_FILE": str(workdir / f"{name}-app.log"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "DB_SYNC_WAIT": sync_wait,
    }


def start_on_nodes(
    label: str, nodes: dict[int, URL], ports: tuple[int, ...], workdir: Path, sync_wait: str
) -> list[servers.Server]:
    """One instance per node; every instance is stopped when any fails to start."""
    started: list[servers.Server] = []
    try:
        for node, port in zip(NODES, ports, strict=True):
            name = f"{label}{node}"
            environment = instance_environment(name, nodes[node], workdir, sync_wait)
            say(f"starting {name} on node {node} at 127.0.0.1:{port}")
            started.append(servers.start_service(name, environment, workdir, port))
    except BaseException:
        for server in started:
            server.stop()
        raise
    return started


def drive(
    configuration: tuple[str, str, list[servers.Server]],
    requests_file: Path,
    seconds: float,
    total: int,
) -> Measured:
    """wrk against every instance at once, ``total`` connections split evenly between them."""
    key, name, instances = configuration
    results: list[load.Result | None] = [None] * len(instances)
    failures: list[BaseException] = []

    def one(index: int) -> None:
        try:
            connections = total // len(instances)
            results[index] = load.run(instances[index].port, requests_file, seconds, connections)
        except BaseException as error:  # re-raised below, in the caller's thread
            failures.append(error)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(instances))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return Measured(key, name, [result for result in results if result], os.getloadavg())


def describe_machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    with dataset.connect(node_server(1)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@wsrep_provider_options")
        version, options = cursor.fetchone()
        cursor.execute("SHOW GLOBAL STATUS LIKE 'wsrep_provider_version'")
        provider = cursor.fetchone()[1]
    suspect = next(
        (part.strip() for part in options.split(";") if "evs.suspect_timeout" in part), ""
    )
    wrk = subprocess.run([load.wrk_path(), "-v"], capture_output=True, text=True, check=False)
    wrk_version = (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else ""
    return (
        f"{cpu}, {os.cpu_count()} cores; MariaDB {version}, Galera {provider} ({suspect});"
        f" {wrk_version}"
    )


def render(measured: list[Measured], settings: Settings) -> str:
    lines = [
        f"{'configuration':<44} {'requests/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
        "  load average after (1, 5, 15 min)"
    ]
    order = {key: index for index, key in enumerate(dict.fromkeys(one.key for one in measured))}
    for one in sorted(measured, key=lambda one: order[one.key]):
        p50 = max(result.p50_ms for result in one.results)
        p99 = max(result.p99_ms for result in one.results)
        average = ", ".join(f"{value:.2f}" for value in one.load_average)
        lines.append(
            f"{one.name:<44} {one.rate:10.0f} {p50:7.1f} {p99:7.1f} {one.errors:6d}  {average}"
        )
        if len(one.results) > 1:
            for index, result in enumerate(one.results, start=1):
                lines.append(
                    f"  instance {index}: {result.rate:.0f} requests/s, {result.errors} errors"
                )
    rates = {
        key: sum(one.rate for one in measured if one.key == key)
        / sum(1 for one in measured if one.key == key)
        for key in {one.key for one in measured}
    }
    lines.append(
        "mean requests/s: " + ", ".join(f"{key} {rates[key]:.0f}" for key in sorted(rates))
    )
    for top, bottom in (("b", "a"), ("b0", "b"), ("b", "c"), ("a", "c")):
        if rates.get(top) and rates.get(bottom):
            lines.append(f"ratio {top}/{bottom}: {rates[top] / rates[bottom]:.2f}")
    lines.append(
        f"{settings.connections} connections in every configuration, {settings.seconds:g} s"
        f" each, {settings.rounds} round(s) in alternating order;"
        f" {WORKERS_PER_INSTANCE} sync workers per instance; errors are non-2xx answers,"
        " timeouts and socket errors"
    )
    lines.append(f"command: {settings.command()}")
    return "\n".join(lines)


def run(settings: Settings) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="messaging-bench-galera-"))
    nodes = {node: node_server(node) for node in NODES}
    standalone = make_url(settings.standalone) if settings.standalone else None
    say(f"settings: {asdict(settings)}")
    say(f"machine: {describe_machine()}")
    say(f"logs and request files: {workdir}")
    requests_file = workload.write(workdir / "creates-and-pages.txt", request_lines())
    started: list[servers.Server] = []
    databases = [nodes[1]] + ([standalone] if standalone else [])
    measured: list[Measured] = []
    try:
        for server in databases:
            say(f"creating {DATABASE} on {server.host}:{server.port} and migrating it")
            dataset.create_database(
                server, DATABASE, instance_environment("init-db", server, workdir)
            )
        synced = start_on_nodes("node", nodes, CLUSTER_PORTS, workdir, "")
        started += synced
        unsynced = start_on_nodes("no-sync-wait-node", nodes, NO_SYNC_WAIT_PORTS, workdir, "0")
        started += unsynced
        configurations = [
            ("a", "(a) 1 instance on node 1", synced[:1]),
            ("b", "(b) 3 instances, one per node", synced),
            ("b0", "(b0) as (b), DB_SYNC_WAIT=0", unsynced),
        ]
        if standalone:
            environment = instance_environment("standalone", standalone, workdir)
            say(f"starting the instance on the standalone server at 127.0.0.1:{STANDALONE_PORT}")
            started.append(
                servers.start_service("standalone", environment, workdir, STANDALONE_PORT)
            )
            configurations.append(("c", "(c) 1 instance on standalone MariaDB", started[-1:]))
        for configuration in configurations:
            say(f"{configuration[1]}: warm-up {settings.warmup_seconds:g} s")
            drive(configuration, requests_file, settings.warmup_seconds, settings.connections)
        # A B C, then C B A: drift of the shared machine falls on every side alike.
        for index in range(settings.rounds):
            for side in round_order(len(configurations), index):
                configuration = configurations[side]
                measured.append(
                    drive(configuration, requests_file, settings.seconds, settings.connections)
                )
                say(
                    f"round {index + 1}, {configuration[1]}: {measured[-1].rate:.0f} requests/s,"
                    f" {measured[-1].errors} errors"
                )
    finally:
        for server in started:
            server.stop()
        for server in databases:
            with dataset.connect(server) as connection, connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
    print(render(measured, settings))
    return 1 if any(one.errors for one in measured) else 0


def main() -> int:
    try:
        load.wrk_path()
    except load.WrkMissingError as error:
        say(str(error))
        return 2
    return run(Settings.from_environment())


if __name__ == "__main__":
    raise SystemExit(main())

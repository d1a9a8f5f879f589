"""``make bench``: one invocation seeds MariaDB, starts the service and the floor app, drives
them with wrk from 16 connections and prints the table, the ratios and the memory check.

Durations and sizes come from the environment (see ``Settings``); ``BENCH_SMOKE=1`` gives
a run of about a minute that exercises every step. Runs that are compared with each other
(service and floor, 10,000 and 1,000,000 rows) alternate A B B A, so drift of a shared
machine falls on both sides alike.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bench import cpu_profile, dataset, load, servers, workload
from bench.report import (
    CREATE_FLOOR_RATIO_TARGET,
    RSS_GROWTH_TARGET_PERCENT,
    SCALE_P99_RATIO_TARGET,
    Runs,
    ratio,
    table,
    verdict,
)

# Ceiling on the memory run's duration, whatever the request count asks for.
MEMORY_RUN_MAX_SECONDS = 600
PROFILE_CONNECTIONS = 2


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip().replace("_", "")
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    """What a run does; every field can be set from a ``BENCH_*`` variable."""

    rows: int = 1_000_000
    small_rows: int = 10_000
    seconds: float = 15.0
    warmup_seconds: float = 3.0
    rounds: int = 2
    connections: int = 16
    memory_requests: int = 100_000
    server: str = "mysql+pymysql://root@127.0.0.1:3306"
    database: str = "messaging_bench"
    profile: bool = False

    @classmethod
    def from_environment(cls) -> Settings:
        smoke = os.environ.get("BENCH_SMOKE", "") not in ("", "0")
        base = (
            cls(rows=50_000, seconds=3, warmup_seconds=1, memory_requests=5_000) if smoke else cls()
        )
        return cls(
            rows=_env_int("BENCH_ROWS", base.rows),
            small_rows=_env_int("BENCH_SMALL_ROWS", base.small_rows),
            seconds=_env_float("BENCH_SECONDS", base.seconds),
            warmup_seconds=_env_float("BENCH_WARMUP_SECONDS", base.warmup_seconds),
            rounds=_env_int("BENCH_ROUNDS", base.rounds),
            connections=_env_int("BENCH_CONNECTIONS", base.connections),
            memory_requests=_env_int("BENCH_MEMORY_REQUESTS", base.memory_requests),
            server=os.environ.get("BENCH_DATABASE_SERVER", base.server),
            database=os.environ.get("BENCH_DATABASE", base.database),
            profile=os.environ.get("BENCH_PROFILE", "") not in ("", "0"),
        )

    @property
    def small_database(self) -> str:
        return f"{self.database}_small"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def database_url(server: URL, database: str) -> str:
    return server.set(database=database).render_as_string(hide_password=False)


def worker_cpu_seconds(server: servers.Server) -> float:
    total = 0
    for pid in server.worker_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def machine_description(server: URL, gunicorn: dict[str, str]) -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    with dataset.connect(server) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT VERSION(), @@innodb_buffer_pool_size")
        mariadb, buffer_pool = cursor.fetchone()
    wrk = subprocess.run([load.wrk_path(), "-v"], capture_output=True, text=True, check=False)
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=servers.REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{memory_kib / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mariadb": f"{mariadb}, buffer pool {int(buffer_pool) // 2**20} MiB",
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "",
        "gunicorn": (
            f"{gunicorn['workers']} workers, {gunicorn['worker_class']},"
            f" {gunicorn.get('threads', '1')} thread(s)"
        ),
        "commit": commit,
    }


class Bench:
    """The servers under test and the runs made against them."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.errors = 0

    def measure(
        self, server: servers.Server, requests_file: Path, runs: Runs | None, seconds: float
    ) -> None:
        cpu_before = worker_cpu_seconds(server)
        result = load.run(server.port, requests_file, seconds, self.settings.connections)
        cpu = worker_cpu_seconds(server) - cpu_before
        self.errors += result.errors
        if result.errors:
            say(f"    {result.errors} errors from {server.name} on {requests_file.name}")
        if runs is not None:
            runs.add(result, cpu)
        say(
            f"    {server.name:<14} {requests_file.stem:<14} {result.rate:8.0f} req/s"
            f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms"
            f"  errors {result.errors}"
        )

    def alternate(
        self, a: tuple[servers.Server, Path], b: tuple[servers.Server, Path]
    ) -> tuple[Runs, Runs]:
        """Rounds of A then B, B then A, …; returns the runs of each side."""
        runs = {id(a): Runs(), id(b): Runs()}
        for index in range(self.settings.rounds):
            order = (a, b) if index % 2 == 0 else (b, a)
            for side in order:
                self.measure(side[0], side[1], runs[id(side)], self.settings.seconds)
        return runs[id(a)], runs[id(b)]

    def repeat(self, server: servers.Server, requests_file: Path) -> Runs:
        runs = Runs()
        for _ in range(self.settings.rounds):
            self.measure(server, requests_file, runs, self.settings.seconds)
        return runs

    def warm_up(self, server: servers.Server, requests_file: Path) -> None:
        self.measure(server, requests_file, None, self.settings.warmup_seconds)

    def profiled(self, server: servers.Server, requests_file: Path) -> tuple[Counter[str], float]:
        """One run under py-spy: samples per layer, and the workers' CPU ms per request.

        Two connections only: on a saturated machine a worker is often preempted while it
        holds the GIL, and the samples would charge that wait to whatever code it was in.
        """
        output = self.workdir / f"profile-{server.name}-{requests_file.stem}.txt"
        seconds = self.settings.seconds
        sampler = cpu_profile.record(server.process.pid, seconds - 1, output)
        cpu_before = worker_cpu_seconds(server)
        result = load.run(server.port, requests_file, seconds, PROFILE_CONNECTIONS)
        cpu_ms = 1000 * (worker_cpu_seconds(server) - cpu_before) / max(1, result.requests)
        self.errors += result.errors
        sampler.wait(seconds + 30)
        return cpu_profile.layers(output.read_text()), cpu_ms


def prepare_databases(settings: Settings, server: URL, workdir: Path) -> dict[str, dataset.Targets]:
    targets = {}
    for database, rows in (
        (settings.small_database, settings.small_rows),
        (settings.database, settings.rows),
    ):
        say(f"creating database {database} and migrating it")
        dataset.create_database(server, database, app_environment(server, database, workdir))
        seconds = dataset.seed(server, database, rows)
        say(f"  {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
        targets[database] = dataset.read_targets(server, database)
    return targets


def app_environment(server: URL, database: str, workdir: Path) -> dict[str, str]:
    """The service's settings: its database, and a log file and metrics directory of its own."""
    metrics = workdir / f"metrics-{database}"
    metrics.mkdir(exist_ok=True)
    return {
        "DATABASE_URL": database_url(server, database),
        "LOG_FILE": str(workdir / f"{database}.log"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }


def memory_check(bench: Bench, service: servers.Server, mixed: Path) -> dict[str, object]:
    """Worker RSS before and after ``memory_requests`` more requests of every kind."""
    requests = bench.settings.memory_requests
    before = service.worker_rss_kib()
    say(f"memory: {requests:,} mixed requests against {service.name}")
    started = time.monotonic()
    results = load.run_count(
        service.port, mixed, requests, bench.settings.connections, MEMORY_RUN_MAX_SECONDS
    )
    errors = sum(result.errors for result in results)
    bench.errors += errors
    after = service.worker_rss_kib()
    survivors = sorted(before.keys() & after.keys())
    total_before = sum(before[pid] for pid in survivors)
    total_after = sum(after[pid] for pid in survivors)
    growth = 100 * (total_after - total_before) / total_before if total_before else 0.0
    return {
        "requests": sum(result.requests for result in results),
        "seconds": round(time.monotonic() - started, 1),
        "errors": errors,
        "rss_before_kib": {str(pid): before[pid] for pid in survivors},
        "rss_after_kib": {str(pid): after[pid] for pid in survivors},
        "workers_replaced": sorted(before.keys() ^ after.keys()),
        "growth_percent": round(growth, 2),
    }


def run(settings: Settings) -> int:
    started = time.monotonic()
    server = make_url(settings.server)
    workdir = Path(tempfile.mkdtemp(prefix="messaging-bench-"))
    gunicorn = servers.service_settings(app_environment(server, settings.database, workdir))
    machine = machine_description(server, gunicorn)
    say(f"settings: {asdict(settings)}")
    say(f"machine: {machine}")
    say(f"logs and request files: {workdir}")

    targets = prepare_databases(settings, server, workdir)
    large, small = targets[settings.database], targets[settings.small_database]
    files = {
        "create": workload.write(workdir / "create.txt", workload.create_lines(large)),
        "list-small": workload.write(workdir / "list-10k.txt", workload.list_lines(small)),
        "list": workload.write(workdir / "list.txt", workload.list_lines(large)),
        "deep": workload.write(workdir / "deep-page.txt", workload.deep_page_lines(large)),
        "search-small": workload.write(workdir / "search-10k.txt", workload.search_lines(small)),
        "search": workload.write(workdir / "search.txt", workload.search_lines(large)),
        "get": workload.write(workdir / "get.txt", workload.get_lines(large)),
    }

    bench = Bench(settings, workdir)
    started_servers: list[servers.Server] = []

    def start(factory: Callable[[], servers.Server]) -> servers.Server:
        started_servers.append(factory())
        return started_servers[-1]

    try:
        service = start(
            lambda: servers.start_service(
                "service", app_environment(server, settings.database, workdir), workdir
            )
        )
        service_small = start(
            lambda: servers.start_service(
                "service-10k", app_environment(server, settings.small_database, workdir), workdir
            )
        )
        floor = start(
            lambda: servers.start_floor(
                gunicorn, {"DATABASE_URL": database_url(server, settings.database)}, workdir
            )
        )
        probe_id = large.message_ids[0]
        has_get = service.request(f"/v1/messages/{probe_id}")[0] == 200
        get_note = (
            "skipped: GET /v1/messages/<message_id> answers"
            f" {service.request(f'/v1/messages/{probe_id}')[0]} on this build"
        )
        kinds = ["create", "list", "deep", "search"] + (["get"] if has_get else [])
        files["mixed"] = workload.write(
            workdir / "mixed.txt",
            workload.mixed_lines(*(files[kind].read_text().splitlines() for kind in kinds)),
        )

        say("warming up")
        for kind in kinds:
            bench.warm_up(service, files[kind])
        bench.warm_up(service_small, files["list-small"])
        bench.warm_up(service_small, files["search-small"])
        bench.warm_up(floor, files["create"])

        say(f"scale: {settings.small_rows:,} rows against {settings.rows:,} rows")
        list_small, list_large = bench.alternate(
            (service_small, files["list-small"]), (service, files["list"])
        )
        search_small, search_large = bench.alternate(
            (service_small, files["search-small"]), (service, files["search"])
        )
        say("deep pages")
        deep = bench.repeat(service, files["deep"])
        get = None
        if has_get:
            say("get by id")
            get = bench.repeat(service, files["get"])
        else:
            say(get_note)
        say("create: service against floor")
        create, create_floor = bench.alternate((service, files["create"]), (floor, files["create"]))
        memory = memory_check(bench, service, files["mixed"])
        profiles = {}
        if settings.profile:
            say("profiles (py-spy)")
            profiles = {
                "create": bench.profiled(service, files["create"]),
                "create, floor": bench.profiled(floor, files["create"]),
                "list": bench.profiled(service, files["list"]),
                "search": bench.profiled(service, files["search"]),
            }
            if has_get:
                profiles["get by id"] = bench.profiled(service, files["get"])
    finally:
        for started_server in started_servers:
            started_server.stop()

    create_ratio = ratio(create.rate, create_floor.rate)
    list_ratio = ratio(list_large.p99_ms, list_small.p99_ms)
    search_ratio = ratio(search_large.p99_ms, search_small.p99_ms)
    rows = f"{settings.rows:,} rows"
    main_table = table(
        [
            ("create", create, ""),
            ("create, floor app", create_floor, ""),
            (f"list one account, first page ({rows})", list_large, ""),
            (f"list one account, deep page via cursor ({rows})", deep, ""),
            (f"search by {dataset.SEARCH_SENDERS} sender numbers ({rows})", search_large, ""),
            (f"get by id ({rows})", get, get_note),
        ]
    )
    scale_table = table(
        [
            (f"list first page, {settings.small_rows:,} rows", list_small, ""),
            (f"list first page, {settings.rows:,} rows", list_large, ""),
            (f"search, {settings.small_rows:,} rows", search_small, ""),
            (f"search, {settings.rows:,} rows", search_large, ""),
        ]
    )
    checks = [
        (
            f"create throughput service/floor = {create_ratio:.2f}"
            f" (target >= {CREATE_FLOOR_RATIO_TARGET})",
            create_ratio >= CREATE_FLOOR_RATIO_TARGET,
        ),
        (
            f"list p99 {settings.rows:,}/{settings.small_rows:,} rows = {list_ratio:.2f}"
            f" (target <= {SCALE_P99_RATIO_TARGET})",
            list_ratio <= SCALE_P99_RATIO_TARGET,
        ),
        (
            f"search p99 {settings.rows:,}/{settings.small_rows:,} rows = {search_ratio:.2f}"
            f" (target <= {SCALE_P99_RATIO_TARGET})",
            search_ratio <= SCALE_P99_RATIO_TARGET,
        ),
        (
            f"worker RSS growth over {memory['requests']:,} requests ="
            f" {memory['growth_percent']:.1f} % (target < {RSS_GROWTH_TARGET_PERCENT:g} %)",
            memory["growth_percent"] < RSS_GROWTH_TARGET_PERCENT,
        ),
        (f"errors in all runs = {bench.errors} (target 0)", bench.errors == 0),
    ]
    rss_before = sum(memory["rss_before_kib"].values()) / 1024
    rss_after = sum(memory["rss_after_kib"].values()) / 1024
    replaced = memory["workers_replaced"]
    replaced_note = f"; workers replaced during the run: {replaced}" if replaced else ""

    print()
    print(f"## messaging benchmark, {settings.connections} connections, wrk")
    for name, value in machine.items():
        print(f"- {name}: {value}")
    print()
    print(main_table)
    print()
    print(f"Scale check (p99 at {settings.rows:,} rows / p99 at {settings.small_rows:,} rows):")
    print()
    print(scale_table)
    print()
    print(
        f"Memory: worker RSS {rss_before:.1f} MiB before, {rss_after:.1f} MiB after"
        f" {memory['requests']:,} mixed requests ({memory['seconds']} s),"
        f" growth {memory['growth_percent']:.1f} %{replaced_note}"
    )
    print()
    for text, met in checks:
        print(f"- {verdict(met)}: {text}")
    if profiles:
        print()
        print("Worker CPU ms per request by layer (py-spy, one run each):")
        print()
        print(cpu_profile.table(profiles))
    print(f"\ntotal time {time.monotonic() - started:.0f} s")

    results = {
        "settings": asdict(settings),
        "machine": machine,
        "create": create.as_dict(),
        "create_floor": create_floor.as_dict(),
        "list": list_large.as_dict(),
        "list_small": list_small.as_dict(),
        "deep": deep.as_dict(),
        "search": search_large.as_dict(),
        "search_small": search_small.as_dict(),
        "get": get.as_dict() if get else get_note,
        "ratios": {"create": create_ratio, "list_p99": list_ratio, "search_p99": search_ratio},
        "memory": memory,
        "errors": bench.errors,
        "profiles": {name: [dict(counts), cpu] for name, (counts, cpu) in profiles.items()},
    }
    results_path = Path(os.environ.get("BENCH_RESULTS") or workdir / "results.json")
    results_path.write_text(json.dumps(results, indent=2))
    say(f"results: {results_path}")
    return 1 if bench.errors else 0


def main() -> int:
    try:
        load.wrk_path()
    except load.WrkMissingError as error:
        say(str(error))
        return 2
    return run(Settings.from_environment())

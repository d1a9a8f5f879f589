"""``make bench``: one invocation seeds MariaDB, starts the service, its floor app and the
FastAPI peer, drives them with wrk from 16 connections and prints the tables, the ratios and
the memory check; results, report and plots go to ``BENCH_OUTPUT``.

Durations and sizes come from the environment (see ``Settings``); ``BENCH_SMOKE=1`` gives
a run of a few minutes that exercises every step. Runs that are compared with each other
(service, floor and peer; 10,000 and 1,000,000 rows) alternate A B C, C B A, so drift of a
shared machine falls on every side alike.

``BENCH_BASELINE=DIRECTORY`` adds another checkout of the service (an older commit, say) and
a second instance of this one, each on a database of its own that its ``init-db`` migrates,
seeded alike, and measures create, list and search on the two in rounds of their own: an
A/B of two commits within one run. ``BENCH_BASELINE_SQL`` is run on the baseline's database
before the rows go in (an index the older schema lacks, say).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from bench import cpu_profile, dataset, load, report, search_and_batch, servers, workload
from bench.report import Runs, Summary, ratios
from bench.scenarios import (
    BASELINE,
    COMPARED,
    FLOOR,
    PEER,
    REPORT_FILE,
    RESULTS_FILE,
    SCALED,
    SERVICE,
    SERVICE_SMALL,
)

# Ceiling on the memory run's duration, whatever the request count asks for.
MEMORY_RUN_MAX_SECONDS = 600
PROFILE_CONNECTIONS = 2
RSS_SAMPLE_SECONDS = 1.0


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip().replace("_", "")
    return int(raw) if raw else default


def env_float(name: str, default: float) -> float:
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
    output: Path | None = None
    baseline: Path | None = None
    # Run on the baseline's database after its migrations, before the rows go in: to give
    # an older schema an index the newer one has, so that only the code differs.
    baseline_sql: str = ""

    @classmethod
    def from_environment(cls) -> Settings:
        smoke = os.environ.get("BENCH_SMOKE", "") not in ("", "0")
        base = (
            cls(rows=50_000, seconds=3, warmup_seconds=1, memory_requests=5_000) if smoke else cls()
        )
        return cls(
            rows=env_int("BENCH_ROWS", base.rows),
            small_rows=env_int("BENCH_SMALL_ROWS", base.small_rows),
            seconds=env_float("BENCH_SECONDS", base.seconds),
            warmup_seconds=env_float("BENCH_WARMUP_SECONDS", base.warmup_seconds),
            rounds=env_int("BENCH_ROUNDS", base.rounds),
            connections=env_int("BENCH_CONNECTIONS", base.connections),
            memory_requests=env_int("BENCH_MEMORY_REQUESTS", base.memory_requests),
            server=os.environ.get("BENCH_DATABASE_SERVER", base.server),
            database=os.environ.get("BENCH_DATABASE", base.database),
            profile=os.environ.get("BENCH_PROFILE", "") not in ("", "0"),
            output=Path(os.environ["BENCH_OUTPUT"]) if os.environ.get("BENCH_OUTPUT") else None,
            baseline=(
                Path(os.environ["BENCH_BASELINE"]).resolve()
                if os.environ.get("BENCH_BASELINE")
                else None
            ),
            baseline_sql=os.environ.get("BENCH_BASELINE_SQL", base.baseline_sql),
        )

    @property
    def small_database(self) -> str:
        return f"{self.database}_small"

    @property
    def baseline_database(self) -> str:
        return f"{self.database}_baseline"

    @property
    def ab_database(self) -> str:
        """This checkout's side of the A/B: a database only it writes to, as the baseline's."""
        return f"{self.database}_ab"


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


def commit_of(checkout: Path) -> str:
    return subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()


def machine_description(
    server: URL, gunicorn: dict[str, str], baseline: Path | None
) -> dict[str, str]:
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
    described = {
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
        "fastapi peer": servers.peer_description(),
        "commit": commit_of(servers.REPOSITORY),
    }
    if baseline is not None:
        described["baseline"] = f"{commit_of(baseline)} ({baseline})"
    return described


def round_order(sides: int, index: int) -> list[int]:
    """The order of the sides in round ``index``: forward, then backward (A B C, C B A, ...),
    so over two rounds every side has run early and late alike."""
    order = list(range(sides))
    return order if index % 2 == 0 else order[::-1]


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

    def alternate(self, sides: Sequence[tuple[servers.Server, Path]]) -> list[Runs]:
        """Rounds over every side, in ``round_order``; returns the runs of each side."""
        runs = [Runs() for _ in sides]
        for index in range(self.settings.rounds):
            for side in round_order(len(sides), index):
                server, requests_file = sides[side]
                self.measure(server, requests_file, runs[side], self.settings.seconds)
        return runs

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


def compare_with_baseline(
    bench: Bench,
    service: servers.Server,
    baseline: servers.Server,
    files: dict[str, Path],
    operations: Sequence[str] = tuple(COMPARED),
) -> dict[str, dict[str, Summary]]:
    """The A/B: each compared operation on this checkout's service and the baseline's, each
    on a database seeded alike that only it writes to, alone in their rounds (A B, B A, twice
    as many rounds as the run's), each side warmed up right before (the runs since the first
    warm-up have pushed its table's pages out of the server's buffer pool).

    The side that runs first is warmed up last: after a run, the server still flushes what it
    wrote while the next one runs, and so each side follows the other as often (A after B's
    warm-up would make it three times in four for A, twice for B)."""
    ab_bench = Bench(replace(bench.settings, rounds=2 * bench.settings.rounds), bench.workdir)
    compared = {}
    for operation in operations:
        say(f"A/B {operation}: service and baseline in alternating rounds")
        for side in (baseline, service):
            ab_bench.warm_up(side, files[operation])
        runs = ab_bench.alternate([(service, files[operation]), (baseline, files[operation])])
        compared[operation] = {SERVICE: runs[0].as_dict(), BASELINE: runs[1].as_dict()}
    bench.errors += ab_bench.errors
    return compared


def prepare_database(
    settings: Settings, server: URL, workdir: Path, database: str, rows: int, checkout: Path
) -> dataset.Targets:
    """A database migrated by ``checkout``'s ``init-db`` (then ``BENCH_BASELINE_SQL``, if it is
    the baseline's) and seeded with ``rows`` messages; what the requests will ask for."""
    say(f"creating database {database} and migrating it ({commit_of(checkout)})")
    dataset.create_database(server, database, app_environment(server, database, workdir), checkout)
    if database == settings.baseline_database and settings.baseline_sql:
        say(f"  {settings.baseline_sql}")
        dataset.execute(server, database, settings.baseline_sql)
    seconds = dataset.seed(server, database, rows)
    say(f"  {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    return dataset.read_targets(server, database)


def prepare_databases(settings: Settings, server: URL, workdir: Path) -> dict[str, dataset.Targets]:
    databases = [
        (settings.small_database, settings.small_rows, servers.REPOSITORY),
        (settings.database, settings.rows, servers.REPOSITORY),
    ]
    if settings.baseline is not None:
        databases.append((settings.ab_database, settings.rows, servers.REPOSITORY))
        databases.append((settings.baseline_database, settings.rows, settings.baseline))
    return {
        database: prepare_database(settings, server, workdir, database, rows, checkout)
        for database, rows, checkout in databases
    }


def app_environment(server: URL, database: str, workdir: Path) -> dict[str, str]:
    """The service's settings: its database, and a log file and metrics directory of its own."""
    metrics = workdir / f"metrics-{database}"
    metrics.mkdir(exist_ok=True)
    return {
        "DATABASE_URL": database_url(server, database),
        "LOG_FILE": str(workdir / f"{database}.log"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "MAX_CONTENT_LENGTH": search_and_batch.MAX_CONTENT_LENGTH,
    }


@contextmanager
def rss_samples(server: servers.Server) -> Iterator[list[list[float]]]:
    """[seconds, total worker RSS in KiB] every ``RSS_SAMPLE_SECONDS`` while the block runs."""
    samples: list[list[float]] = []
    done = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while True:
            total = sum(server.worker_rss_kib().values())
            samples.append([round(time.monotonic() - started, 1), total])
            if done.wait(RSS_SAMPLE_SECONDS):
                return

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        done.set()
        sampler.join()


def memory_check(bench: Bench, service: servers.Server, mixed: Path) -> dict[str, Any]:
    """Worker RSS before and after ``memory_requests`` more requests of every kind, and
    sampled while they run."""
    requests = bench.settings.memory_requests
    before = service.worker_rss_kib()
    say(f"memory: {requests:,} mixed requests against {service.name}")
    started = time.monotonic()
    with rss_samples(service) as samples:
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
        "rss_samples": samples,
    }


def run(settings: Settings) -> int:
    started = time.monotonic()
    server = make_url(settings.server)
    workdir = Path(tempfile.mkdtemp(prefix="messaging-bench-"))
    output = settings.output or workdir
    output.mkdir(parents=True, exist_ok=True)
    gunicorn = servers.service_settings(app_environment(server, settings.database, workdir))
    machine = machine_description(server, gunicorn, settings.baseline)
    say(f"settings: {asdict(settings)}")
    say(f"machine: {machine}")
    say(f"logs and request files: {workdir}")
    say("FastAPI peer: its virtual environment (built on first use)")
    servers.peer_python()

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

    large_url = {"DATABASE_URL": database_url(server, settings.database)}
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
        ab_sides: list[servers.Server] = []
        if settings.baseline is not None:
            checkout = settings.baseline
            ab_sides = [
                start(
                    lambda: servers.start_service(
                        "service-ab",
                        app_environment(server, settings.ab_database, workdir),
                        workdir,
                    )
                ),
                start(
                    lambda: servers.start_service(
                        "baseline",
                        app_environment(server, settings.baseline_database, workdir),
                        workdir,
                        checkout=checkout,
                    )
                ),
            ]
        floor = start(lambda: servers.start_floor(gunicorn, large_url, workdir))
        peer = start(lambda: servers.start_peer(large_url, workdir))
        probe_id = large.message_ids[0]
        get_status = service.request(f"/v1/messages/{probe_id}")[0]
        has_get = get_status == 200
        get_note = f"skipped: GET /v1/messages/<message_id> answers {get_status} on this build"
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
        for other in (floor, peer, *ab_sides):
            for kind in COMPARED:
                bench.warm_up(other, files[kind])

        scenarios: dict[str, dict[str, Any]] = {}
        for operation in COMPARED:
            sides = {
                SERVICE: (service, files[operation]),
                FLOOR: (floor, files[operation]),
                PEER: (peer, files[operation]),
            }
            if operation in SCALED:
                sides[SERVICE_SMALL] = (service_small, files[f"{operation}-small"])
            say(f"{operation}: {', '.join(sides)} in alternating rounds")
            runs = bench.alternate(list(sides.values()))
            scenarios[operation] = {
                name: measured.as_dict() for name, measured in zip(sides, runs, strict=True)
            }
        against_baseline = compare_with_baseline(bench, *ab_sides, files) if ab_sides else {}
        say("deep pages")
        scenarios["deep"] = {SERVICE: bench.repeat(service, files["deep"]).as_dict()}
        if has_get:
            say("get by id")
            scenarios["get"] = {SERVICE: bench.repeat(service, files["get"]).as_dict()}
        else:
            say(get_note)
            scenarios["get"] = {"note": get_note}
        memory = memory_check(bench, service, files["mixed"])
        search_and_batch_results = search_and_batch.measure(
            bench,
            server=server,
            database=settings.database,
            targets=large,
            service=service,
            floor=floor,
            start_plain_service=lambda database: start(
                lambda: servers.start_service(
                    "service-no-text-index", app_environment(server, database, workdir), workdir
                )
            ),
            workdir=workdir,
            say=say,
        )
        profiles = {}
        if settings.profile:
            say("profiles (py-spy)")
            profiles = {
                "create": bench.profiled(service, files["create"]),
                "create, floor": bench.profiled(floor, files["create"]),
                "list": bench.profiled(service, files["list"]),
                "list, floor": bench.profiled(floor, files["list"]),
                "search": bench.profiled(service, files["search"]),
                "search, floor": bench.profiled(floor, files["search"]),
            }
            if has_get:
                profiles["get by id"] = bench.profiled(service, files["get"])
    finally:
        for started_server in started_servers:
            started_server.stop()

    results = {
        "settings": {
            **asdict(settings),
            "output": str(output),
            "baseline": str(settings.baseline) if settings.baseline else None,
        },
        "machine": machine,
        "scenarios": scenarios,
        "baseline": against_baseline,
        "memory": memory,
        "search_and_batch": search_and_batch_results,
        "errors": bench.errors,
        "profiles": {name: [dict(counts), cpu] for name, (counts, cpu) in profiles.items()},
        "seconds": round(time.monotonic() - started),
    }
    results["ratios"] = ratios(results)
    rendered = report.write(results, output)
    rendered += "\n" + search_and_batch.render(results["search_and_batch"])
    (output / REPORT_FILE).write_text(rendered)
    print()
    print(rendered, end="")
    print(f"\ntotal time {results['seconds']} s")
    say(f"results, report and plots in {output}: {RESULTS_FILE}, {REPORT_FILE}, *.png")
    return 1 if bench.errors else 0


def main() -> int:
    try:
        load.wrk_path()
    except load.WrkMissingError as error:
        say(str(error))
        return 2
    return run(Settings.from_environment())

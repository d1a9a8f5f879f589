"""``python -m bench.ab``: only the A/B of ``make bench``, this checkout against another one.

    BENCH_BASELINE=../base python -m bench.ab

The same comparison as ``make bench`` makes with ``BENCH_BASELINE`` set, and nothing else: two
databases, each migrated by its own checkout's ``init-db`` (then ``BENCH_BASELINE_SQL`` on the
baseline's) and seeded alike; the two services, started as operators run them; each operation
in alternating rounds with each side warmed up right before; the same target (within 5 % of the
baseline, or better). No floor, no peer, no memory or search runs: a third of the time of a full
run, so that an A/B can be repeated. ``BENCH_AB_OPERATIONS`` names the operations (a comma-separated
subset of ``create,list,search``, all three by default); ``BENCH_ROWS``, ``BENCH_ROUNDS`` and
``BENCH_SECONDS`` work as for ``make bench``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from bench import load, report, servers, workload
from bench.run import (
    Bench,
    Settings,
    app_environment,
    commit_of,
    compare_with_baseline,
    prepare_database,
    say,
)
from bench.scenarios import BASELINE, COMPARED

REQUEST_LINES = {
    "create": workload.create_lines,
    "list": workload.list_lines,
    "search": workload.search_lines,
}


def operations_from_environment() -> tuple[str, ...]:
    """The operations ``BENCH_AB_OPERATIONS`` names, in the order ``make bench`` runs them."""
    named = {name.strip() for name in os.environ.get("BENCH_AB_OPERATIONS", "").split(",")}
    named.discard("")
    unknown = sorted(named - set(COMPARED))
    if unknown:
        raise ValueError(
            f"BENCH_AB_OPERATIONS: unknown {', '.join(unknown)}; choose from {', '.join(COMPARED)}"
        )
    return tuple(operation for operation in COMPARED if operation in named) or tuple(COMPARED)


def render(compared: dict[str, dict], settings: Settings) -> str:
    """The A/B table and its checks, as ``make bench`` reports them."""
    assert settings.baseline is not None
    checks = report.throughput_checks(
        report.baseline_ratios(compared), BASELINE, report.BASELINE_RATIO_TARGET, compared
    )
    lines = [
        f"Service ({commit_of(servers.REPOSITORY)}) and the baseline checkout"
        f" ({commit_of(settings.baseline)}, {settings.baseline}), {settings.rows:,} rows,"
        f" {2 * settings.rounds} rounds of {settings.seconds:g} s each, alone in their rounds:",
        "",
        report.baseline_table(compared),
        "",
        *(f"- {report.verdict(check.met)}: {check.text}" for check in checks),
    ]
    return "\n".join(lines) + "\n"


def run(settings: Settings, operations: tuple[str, ...]) -> int:
    assert settings.baseline is not None
    server = make_url(settings.server)
    workdir = Path(tempfile.mkdtemp(prefix="messaging-ab-"))
    say(f"A/B of {', '.join(operations)}; logs and request files: {workdir}")
    targets = prepare_database(
        settings, server, workdir, settings.ab_database, settings.rows, servers.REPOSITORY
    )
    prepare_database(
        settings, server, workdir, settings.baseline_database, settings.rows, settings.baseline
    )
    files = {
        operation: workload.write(workdir / f"{operation}.txt", REQUEST_LINES[operation](targets))
        for operation in operations
    }
    bench = Bench(settings, workdir)
    started: list[servers.Server] = []
    try:
        for name, database, checkout in (
            ("service-ab", settings.ab_database, servers.REPOSITORY),
            (BASELINE, settings.baseline_database, settings.baseline),
        ):
            environment = app_environment(server, database, workdir)
            started.append(servers.start_service(name, environment, workdir, checkout=checkout))
        compared = compare_with_baseline(bench, *started, files, operations)
    finally:
        for side in started:
            side.stop()
    print()
    print(render(compared, settings), end="")
    return 1 if bench.errors else 0


def main() -> int:
    settings = Settings.from_environment()
    if settings.baseline is None:
        say("BENCH_BASELINE must name a checkout of the commit to compare with")
        return 2
    try:
        load.wrk_path()
        operations = operations_from_environment()
    except (load.WrkMissingError, ValueError) as error:
        say(str(error))
        return 2
    return run(settings, operations)


if __name__ == "__main__":
    sys.exit(main())

"""Instructions per request, counted by valgrind's callgrind: the CPU cost of two checkouts
compared without the noise of a shared machine.

    BENCH_BASELINE=../base python -m bench.instructions

A run under load (``make bench``) varies by several percent from one run to the next on a
small virtual machine; the instructions a request executes vary by about one. Each checkout
(this one, and ``BENCH_BASELINE``'s if set) gets a database of its own, migrated by its own
``init-db`` (``BENCH_BASELINE_SQL`` then runs on the baseline's, as in ``make bench``). Then
``bench/in_process.py`` runs from that checkout under callgrind, twice per operation: with its
warm-up only, and with ``BENCH_INSTRUCTION_REQUESTS`` more requests. The difference over that
count is what one request costs, start-up and warm-up cancelled out. The application writes
its log file and its Prometheus files, as a gunicorn worker does.

Counted: the instructions of the Python process in user space. Not counted: the kernel's
work for its system calls (a log line's lock, stat and write; the socket to the database),
the database's work, gunicorn's HTTP parsing. The ratio is a floor-free measure of the
application's own CPU, to read beside ``make bench``'s throughput, not in place of it.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from bench import dataset, report, servers
from bench.run import Settings, app_environment, commit_of, database_url, env_int, say

IN_PROCESS = Path(__file__).resolve().parent / "in_process.py"
OPERATIONS = ("create", "list")
DEFAULT_REQUESTS = 400
COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)
INSTALL_HINT = (
    "valgrind is not installed. It is Debian's package valgrind; install it with"
    " 'apt-get update && apt-get install -y valgrind' (as root, or with sudo)."
)


class ValgrindMissingError(RuntimeError):
    """The instruction counter is not on PATH."""


@dataclass(frozen=True)
class Side:
    """A checkout measured, and the database it alone uses."""

    name: str
    checkout: Path
    database: str


def collected_instructions(callgrind_output: str) -> int:
    """The total callgrind prints on its standard error (``==PID== Collected : N``)."""
    match = COLLECTED.search(callgrind_output)
    if match is None:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{callgrind_output}")
    return int(match[1])


def per_request(warm_up_only: int, with_requests: int, requests: int) -> int:
    """Instructions of one request: what the extra requests added, shared out."""
    if requests <= 0:
        raise ValueError("requests must be positive")
    return round((with_requests - warm_up_only) / requests)


def valgrind_path() -> str:
    path = shutil.which("valgrind")
    if path is None:
        raise ValgrindMissingError(INSTALL_HINT)
    return path


def count(side: Side, server: URL, operation: str, requests: int, workdir: Path) -> int:
    """Instructions callgrind counts in one in-process run of ``requests`` requests."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{side.name}-{operation}-{requests}-", dir=workdir))
    metrics = run_dir / "metrics"
    metrics.mkdir()
    environment = {
        "DATABASE_URL": database_url(server, side.database),
        "LOG_FILE": str(run_dir / "app.log"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    command = [
        valgrind_path(),
        "--tool=callgrind",
        f"--callgrind-out-file={run_dir / 'callgrind.out'}",
        sys.executable,
        str(IN_PROCESS),
        "--count",
        str(requests),
        operation,
    ]
    stderr = servers.run_in_checkout(
        command, side.checkout, environment, timeout=3600, what=f"{side.name} {operation}"
    )
    return collected_instructions(stderr)


def measure(sides: list[Side], server: URL, requests: int, workdir: Path) -> dict[str, dict]:
    """Instructions per request of each operation on each side, the runs two at a time."""
    jobs = [
        (side, operation, n) for side in sides for operation in OPERATIONS for n in (0, requests)
    ]
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        totals = list(pool.map(lambda job: count(job[0], server, job[1], job[2], workdir), jobs))
    counted = {job: total for job, total in zip(jobs, totals, strict=True)}
    return {
        side.name: {
            operation: per_request(
                counted[side, operation, 0], counted[side, operation, requests], requests
            )
            for operation in OPERATIONS
        }
        for side in sides
    }


def table(results: dict[str, dict[str, int]]) -> str:
    """Markdown: instructions per request, and this checkout's over the baseline's."""
    names = list(results)
    header = ["operation", *(f"{name} (instructions per request)" for name in names)]
    if "baseline" in results:
        header.append("service / baseline")
    rows = []
    for operation in OPERATIONS:
        row = [operation, *(f"{results[name][operation]:,}" for name in names)]
        if "baseline" in results:
            row.append(f"{results['service'][operation] / results['baseline'][operation]:.3f}")
        rows.append(row)
    return report.markdown_table(header, rows)


def main() -> int:
    valgrind_path()  # before any database is made
    defaults = Settings()
    server = make_url(os.environ.get("BENCH_DATABASE_SERVER", defaults.server))
    prefix = os.environ.get("BENCH_DATABASE", defaults.database)
    requests = env_int("BENCH_INSTRUCTION_REQUESTS", DEFAULT_REQUESTS)
    sides = [Side("service", servers.REPOSITORY, f"{prefix}_instructions")]
    if os.environ.get("BENCH_BASELINE"):
        baseline = Path(os.environ["BENCH_BASELINE"]).resolve()
        sides.append(Side("baseline", baseline, f"{prefix}_instructions_baseline"))
    workdir = Path(tempfile.mkdtemp(prefix="messaging-instructions-"))
    for side in sides:
        say(f"{side.name}: {commit_of(side.checkout)}, database {side.database}")
        environment = app_environment(server, side.database, workdir)
        dataset.create_database(server, side.database, environment, side.checkout)
        if side.name == "baseline" and os.environ.get("BENCH_BASELINE_SQL"):
            dataset.execute(server, side.database, os.environ["BENCH_BASELINE_SQL"])
    say(f"callgrind: {len(sides) * len(OPERATIONS) * 2} runs of {IN_PROCESS.name}, in {workdir}")
    print(table(measure(sides, server, requests, workdir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

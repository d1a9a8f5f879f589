"""Driving a server with wrk and reading back what it measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "wrk" / "requests.lua"
RESULT_PREFIX = "BENCH_RESULT "
WRK_THREADS = 2
REQUEST_TIMEOUT = "10s"
INSTALL_HINT = (
    "wrk is not installed. It is Debian's package wrk; install it with 'apt-get update"
    " && apt-get install -y wrk' (as root, or with sudo), then run make bench again."
)


class WrkMissingError(RuntimeError):
    """The load generator is not on PATH."""


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissingError(INSTALL_HINT)
    return path


@dataclass(frozen=True)
class Result:
    """One wrk run: how many requests, how fast, and what went wrong."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run(port: int, requests_file: Path, seconds: float, connections: int) -> Result:
    """Replay ``requests_file`` against 127.0.0.1:``port`` for ``seconds`` from
    ``connections`` connections."""
    threads = min(WRK_THREADS, connections)
    environment = {**os.environ, "BENCH_REQUESTS": str(requests_file)}
    completed = subprocess.run(
        [
            wrk_path(),
            f"--threads={threads}",
            f"--connections={connections}",
            f"--duration={max(1, round(seconds))}s",
            f"--timeout={REQUEST_TIMEOUT}",
            f"--script={SCRIPT}",
            f"http://127.0.0.1:{port}",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            raw = json.loads(line.removeprefix(RESULT_PREFIX))
            break
    else:
        raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")
    return Result(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=sum(raw[kind] for kind in ("connect", "read", "write", "status", "timeout")),
    )


def run_count(
    port: int,
    requests_file: Path,
    requests: int,
    connections: int,
    max_seconds: float,
    chunk_seconds: float = 20.0,
) -> list[Result]:
    """Runs of at most ``chunk_seconds`` until ``requests`` have been answered (a little
    more: the last run is sized by the rate of the one before) or ``max_seconds`` pass."""
    results: list[Result] = []
    done = 0
    deadline = time.monotonic() + max_seconds
    while done < requests and time.monotonic() < deadline:
        seconds = chunk_seconds
        if results and results[-1].rate > 0:
            seconds = min(chunk_seconds, max(1.0, (requests - done) / results[-1].rate))
        results.append(run(port, requests_file, seconds, connections))
        done += results[-1].requests
    return results

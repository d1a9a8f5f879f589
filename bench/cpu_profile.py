"""Where a server's workers spend their CPU: py-spy samples grouped by the layer of the stack.

Each sample is charged to the innermost frame that belongs to a known layer (a frame in
the standard library is charged to the layer that called it), so the shares add up to
the workers' time on CPU.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLES_PER_SECOND = 200
# (layer, pattern on the frame's file): the first match names the layer.
LAYERS = (
    (
        "logging",
        re.compile(r"messaging/(logs|request_log|shared_log_file|masking)\.py|(^|/)logging/"),
    ),
    ("metrics (prometheus)", re.compile(r"prometheus_flask_exporter/|prometheus_client/")),
    (
        "JSON out (orjson provider)",
        re.compile(r"messaging/(json_provider|message_json)\.py|flask/json/"),
    ),
    ("connection pool hooks", re.compile(r"messaging/connections\.py")),
    ("application code", re.compile(r"messaging/|bench/floor\.py")),
    (
        "validation, serialization (smorest, webargs, marshmallow)",
        re.compile(r"flask_smorest/|webargs/|marshmallow/|apispec/"),
    ),
    (
        "SQLAlchemy (session, pool, pre-ping, execution)",
        re.compile(r"sqlalchemy/|flask_sqlalchemy/"),
    ),
    ("PyMySQL (protocol, row parsing)", re.compile(r"pymysql/")),
    ("Flask, Werkzeug", re.compile(r"flask/|werkzeug/")),
    ("gunicorn (HTTP, sockets)", re.compile(r"gunicorn/")),
)
OTHER = "other"
FRAME_FILE = re.compile(r"\((?P<file>[^():]+)(?::\d+)?\)$")


class PySpyMissingError(RuntimeError):
    """py-spy (setup.cfg's dev extra) is not installed."""


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise PySpyMissingError("py-spy is not installed: pip install -e '.[dev]'")
    return found


def layer_of(frame: str) -> str | None:
    match = FRAME_FILE.search(frame)
    if not match:
        return None
    for name, pattern in LAYERS:
        if pattern.search(match["file"]):
            return name
    return None


def layers(raw_stacks: str) -> Counter[str]:
    """Samples per layer from py-spy's raw (collapsed) output, idle workers left out."""
    counts: Counter[str] = Counter()
    for line in raw_stacks.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any("handle_request" in frame for frame in frames):
            continue  # a worker waiting for a connection, or the master
        for frame in reversed(frames):
            name = layer_of(frame)
            if name:
                counts[name] += int(count)
                break
        else:
            counts[OTHER] += int(count)
    return counts


def record(master_pid: int, seconds: float, output: Path) -> subprocess.Popen:
    """Start sampling every worker of ``master_pid`` for ``seconds``; wait on the result."""
    return subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(master_pid),
            "--subprocesses",
            "--nonblocking",
            # Only samples holding the GIL: Python at work, not waiting in a system call.
            "--gil",
            "--rate",
            str(SAMPLES_PER_SECOND),
            "--duration",
            str(max(1, round(seconds))),
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def table(profiles: dict[str, tuple[Counter[str], float]]) -> str:
    """Markdown: CPU ms per request by layer, one column per profiled run.

    ``profiles`` maps a column name to its layer counts and the workers' CPU ms per request.
    """
    names = [name for name, _ in LAYERS] + [OTHER]
    header = "| layer | " + " | ".join(profiles) + " |"
    lines = [header, "|---|" + "---:|" * len(profiles)]
    for name in names:
        cells = []
        for counts, cpu_ms in profiles.values():
            total = sum(counts.values())
            share = counts[name] / total if total else 0.0
            cells.append(f"{share * cpu_ms:.3f} ({100 * share:.0f} %)" if counts[name] else "")
        if any(cells):
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    totals = " | ".join(f"{cpu_ms:.3f}" for _, cpu_ms in profiles.values())
    lines.append(f"| **worker CPU ms/request** | {totals} |")
    return "\n".join(lines)

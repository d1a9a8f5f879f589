"""shared_log_file.py: processes sharing one rotated file lose, double and mix no line."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from messaging.shared_log_file import SharedRotatingFileHandler
from tests.servers import REPO_ROOT

pytestmark = pytest.mark.database_agnostic


WRITER_LINE = re.compile(r"^writer=(?P<writer>\d) line=(?P<line>\d{5}) x+$")


# Each process writes its lines as fast as it can once every process is ready.
WRITER_SCRIPT = """
import logging, os, sys, time
from pathlib import Path
from messaging.shared_log_file import SharedRotatingFileHandler

path, writer, lines, max_bytes, backups, start = sys.argv[1:]
handler = SharedRotatingFileHandler(path, int(max_bytes), int(backups))
handler.setFormatter(logging.Formatter("%(message)s"))
log = logging.getLogger("writer")
log.propagate = False
log.addHandler(handler)
log.setLevel(logging.INFO)
while not Path(start).exists():
    time.sleep(0.01)
for number in range(int(lines)):
    log.info("writer=%s line=%05d %s", writer, number, "x" * (40 + number % 60))
"""


def write_from_processes(
    log_path: Path, writers: int, lines: int, max_bytes: int, backups: int
) -> None:
    start = log_path.parent / "start"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER_SCRIPT,
                str(log_path),
                str(writer),
                str(lines),
                str(max_bytes),
                str(backups),
                str(start),
            ],
            cwd=REPO_ROOT,
        )
        for writer in range(writers)
    ]
    start.touch()
    assert [process.wait(60) for process in processes] == [0] * writers


def rotated_files(log_path: Path) -> list[Path]:
    return sorted(log_path.parent.glob(log_path.name + ".[0-9]*"))


def test_processes_sharing_a_file_lose_duplicate_and_interleave_no_line(tmp_path):
    log_path = tmp_path / "logs" / "app.log"
    writers, lines, max_bytes = 4, 500, 8000
    write_from_processes(log_path, writers, lines, max_bytes, backups=100)

    files = [*rotated_files(log_path), log_path]
    assert len(files) > 10, "the test must cross many rotations"
    written = [line for path in files for line in path.read_text().splitlines()]
    assert [line for line in written if not WRITER_LINE.match(line)] == []
    seen = sorted((m["writer"], int(m["line"])) for m in map(WRITER_LINE.match, written))
    expected = sorted((str(writer), line) for writer in range(writers) for line in range(lines))
    assert seen == expected
    assert all(path.stat().st_size <= max_bytes for path in files)


def test_processes_sharing_a_file_keep_at_most_backup_count_old_files(tmp_path):
    log_path = tmp_path / "logs" / "app.log"
    write_from_processes(log_path, writers=3, lines=400, max_bytes=4000, backups=3)

    assert [path.name for path in rotated_files(log_path)] == [
        "app.log.1",
        "app.log.2",
        "app.log.3",
    ]
    files = [log_path, *rotated_files(log_path)]
    written = [line for path in files for line in path.read_text().splitlines()]
    assert [line for line in written if not WRITER_LINE.match(line)] == []
    assert len(written) == len(set(written))
    # The kept files hold the newest lines: each writer's lines there run to its last one.
    kept: dict[str, list[int]] = {}
    for match in map(WRITER_LINE.match, written):
        kept.setdefault(match["writer"], []).append(int(match["line"]))
    assert kept
    for numbers in kept.values():
        assert sorted(numbers) == list(range(min(numbers), 400))


class CountingFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(message)s")
        self.calls = 0

    def format(self, record: logging.LogRecord) -> str:
        self.calls += 1
        return super().format(record)


def test_each_record_is_formatted_once_and_files_stay_within_the_limit(tmp_path):
    path = tmp_path / "app.log"
    handler = SharedRotatingFileHandler(path, max_bytes=1_000, backup_count=3)
    formatter = CountingFormatter()
    handler.setFormatter(formatter)
    lines = [f"line {number:03d} " + "é" * (number % 40) for number in range(150)]
    try:
        for line in lines:
            handler.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
    finally:
        handler.close()

    assert formatter.calls == len(lines)
    files = [path, *(path.with_name(f"app.log.{number}") for number in (1, 2, 3))]
    assert all(0 < file.stat().st_size <= 1_000 for file in files)
    kept = [text for file in reversed(files) for text in file.read_text("utf-8").splitlines()]
    assert kept == lines[-len(kept) :]

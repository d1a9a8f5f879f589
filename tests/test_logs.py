"""Log lines (format, request ids, access lines, masking) and one file shared by processes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from messaging import create_app
from messaging.masking import mask_number
from messaging.shared_log_file import LogFileError
from tests.servers import GUNICORN_COMMAND, REPO_ROOT, free_port, server_environment

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<logger>[\w.]+) (?P<level>[A-Z]+)"
    r" \[(?P<request_id>[^\]]+)\] (?P<message>.*)$"
)
SECRET_TEXT = "the launch code is 0000"
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


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15551234567", "+1555****567"),
        ("15551234567", "1555****567"),
        ("+442079460958", "+4420*****958"),
        ("5551234", "****234"),
        ("55512345", "5****345"),
        ("123456", "****56"),
        ("123", "*23"),
        ("+123456", "+****56"),
    ],
)
def test_mask_number(number, masked):
    assert mask_number(number) == masked


def read_lines(log_file) -> list[str]:
    return log_file.read_text().splitlines()


def test_every_line_has_time_logger_level_request_id(client, log_file):
    client.post(
        "/v1/create",
        json={"account_id": 1, "sender_number": "123456", "receiver_number": "654321"},
    )
    lines = read_lines(log_file)
    assert lines
    for line in lines:
        assert TEXT_LINE.match(line), line


def test_one_access_line_per_request_with_status_duration_and_id(client, log_file):
    response = client.get("/v1/get/messages/77?limit=5", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    access = [
        TEXT_LINE.match(line) for line in read_lines(log_file) if " messaging.access " in line
    ]
    assert len(access) == 1
    assert access[0]["request_id"] == "abc-123"
    assert re.fullmatch(r"GET /v1/get/messages/77 200 \d+\.\dms", access[0]["message"])


def test_request_id_is_made_when_missing_or_invalid(client):
    made = client.get("/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    for bad in ("has space", "x" * 129, "tab\tid"):
        echoed = client.get("/health", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert echoed != bad
        assert re.fullmatch(r"[0-9a-f]{32}", echoed)


# The line naming the numbers of a new message is a DEBUG line.
@pytest.mark.parametrize("app_config", [{"LOG_LEVEL": "DEBUG"}])
def test_numbers_masked_and_text_never_logged(client, log_file, caplog):
    response = client.post(
        "/v1/create",
        json={
            "account_id": 5,
            "sender_number": "+15551234567",
            "receiver_number": "+15557654321",
            "message_text": SECRET_TEXT,
        },
    )
    assert response.status_code == 200
    client.get("/v1/search?sender_number=%2B15551234567")
    client.post("/v1/create", json={"account_id": 5, "sender_number": "+15551234567", "x": 1})
    logged = log_file.read_text() + caplog.text
    assert "+1555****567" in logged
    assert "15551234567" not in logged
    assert "15557654321" not in logged
    assert SECRET_TEXT not in logged


def test_json_format_is_one_object_per_line(database_url, tmp_path):
    log_file = tmp_path / "app.log"
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "LOG_FILE": str(log_file), "LOG_FORMAT": "json"}
    )
    app.test_client().get("/health", headers={"X-Request-ID": "json-1"})
    entries = [json.loads(line) for line in read_lines(log_file)]
    access = [e for e in entries if e["logger"] == "messaging.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "json-1"
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/health"
    assert access[0]["status"] == 200
    assert access[0]["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", access[0]["time"])


def test_empty_log_file_setting_logs_to_console_only(database_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "LOG_FILE": ""})
    app.test_client().get("/health")
    assert not any(tmp_path.rglob("*.log"))


def test_file_rotates_by_size_keeping_backup_count(database_url, tmp_path):
    log_file = tmp_path / "app.log"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "LOG_FILE": str(log_file),
            "LOG_MAX_BYTES": 1000,
            "LOG_BACKUP_COUNT": 2,
        }
    )
    client = app.test_client()
    for n in range(60):
        client.get("/health", headers={"X-Request-ID": f"rotation-{n}"})
    files = sorted(tmp_path.glob("app.log*"))
    assert [f.name for f in files if not f.name.endswith(".lock")] == [
        "app.log",
        "app.log.1",
        "app.log.2",
    ]
    assert all(f.stat().st_size <= 1000 for f in files)
    newest = read_lines(log_file)[-1]
    assert "rotation-59" in newest


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


def lines_with(log_file: Path, marker: str) -> list[str]:
    return [line for line in log_file.read_text().splitlines() if marker in line]


@pytest.mark.parametrize("app_config", [{"LOG_LEVEL": "DEBUG"}])
def test_request_id_from_header_is_echoed_and_on_every_line_of_the_request(
    client, create, log_file
):
    response = client.post(
        "/v1/create",
        json={"account_id": 3, "sender_number": "+15551230001", "receiver_number": "+15559870001"},
        headers={"X-Request-ID": "order-7f3a:retry=2"},
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "order-7f3a:retry=2"
    tagged = lines_with(log_file, "[order-7f3a:retry=2]")
    assert len(tagged) == 2
    assert " messaging.create DEBUG " in tagged[0]
    assert " messaging.access INFO " in tagged[1]


def test_request_id_of_128_printable_characters_is_kept(client):
    given = "r" * 127 + "~"
    assert client.get("/health", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given


def test_access_line_is_the_only_line_naming_the_path(client, create, log_file):
    create(sender_number="+15551234567", receiver_number="+15557654321")
    assert client.get("/v1/search?sender_number=%2B15551234567").status_code == 200
    lines = log_file.read_text().splitlines()
    access = [line for line in lines if " messaging.access " in line]
    assert len(access) == 2
    assert re.search(r"\] POST /v1/create 200 \d+\.\dms$", access[0])
    # The query string (it holds phone numbers) is not logged.
    assert re.search(r"\] GET /v1/search 200 \d+\.\dms$", access[1])
    assert [line for line in lines if "/v1/" in line and line not in access] == []


def test_path_cannot_forge_or_break_log_lines(client, log_file):
    forged = "2026-01-01T00:00:00.000Z messaging.access INFO [forged] POST /v1/create 200 1.0ms"
    response = client.get("/nowhere%0A" + quote(forged) + "%0D%20x")
    assert response.status_code == 404
    lines = read_lines(log_file)
    assert [line for line in lines if not TEXT_LINE.match(line)] == []
    assert [line for line in lines if "[forged]" in line] == []
    access = [line for line in lines if " messaging.access " in line]
    assert len(access) == 1
    assert re.search(r"\] GET /nowhere%0A\S+%0D%20x 404 \d+\.\dms$", access[0])


# /sys refuses new files even to root, where a chmod would not stop anyone.
UNCREATABLE_DIRECTORY_LOG_FILE = "/sys/messaging-test/app.log"
UNWRITABLE_DIRECTORY_LOG_FILE = "/sys/messaging-test.log"


@pytest.mark.parametrize(
    "log_file", [UNCREATABLE_DIRECTORY_LOG_FILE, UNWRITABLE_DIRECTORY_LOG_FILE]
)
def test_unwritable_log_file_stops_the_application_with_a_clear_error(database_url, log_file):
    with pytest.raises(LogFileError, match=f"LOG_FILE '{log_file}' cannot be written"):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "LOG_FILE": log_file})


@pytest.mark.slow
def test_unwritable_log_file_stops_gunicorn_with_one_line(tmp_path):
    env = server_environment(
        {
            "LOG_FILE": UNWRITABLE_DIRECTORY_LOG_FILE,
            "DATABASE_URL": f"sqlite:///{tmp_path}/unused.sqlite3",
            "PORT": str(free_port()),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
    )
    done = subprocess.run(
        list(GUNICORN_COMMAND),
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert f"Error: LOG_FILE '{UNWRITABLE_DIRECTORY_LOG_FILE}' cannot be written" in output
    assert "Traceback" not in output
    assert "Booting worker" not in output

"""logs.py: every line's format (text or JSON), where lines go, and what never reaches them."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from messaging import create_app
from messaging.shared_log_file import LogFileError
from tests.conftest import TEXT_LINE, read_lines
from tests.servers import GUNICORN_COMMAND, REPO_ROOT, free_port, server_environment

pytestmark = pytest.mark.database_agnostic

SECRET_TEXT = "the launch code is 0000"


def test_every_line_has_time_logger_level_request_id(client, log_file):
    client.post(
        "/v1/create",
        json={"account_id": 1, "sender_number": "123456", "receiver_number": "654321"},
    )
    lines = read_lines(log_file)
    assert lines
    for line in lines:
        assert TEXT_LINE.match(line), line


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

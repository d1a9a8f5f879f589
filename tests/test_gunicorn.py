"""gunicorn.conf.py: settings from the environment, and 4 workers against MariaDB under load.

The load tests start real gunicorn (``start_server``) and send requests from
concurrent clients, then check what an operator sees: metric sums over all
workers, one well-formed access line per request across rotated log files,
and every acknowledged message readable through the API.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import REPO_ROOT, RunningServer, raw_request, server_environment

WORKERS = 4
CLIENTS = 16
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [\w.]+ (DEBUG|INFO|WARNING|ERROR|CRITICAL)"
    r" \[[\x21-\x7e]{1,128}\] \S.*$"
)
ACCESS_LINE = re.compile(
    r"^\S+ messaging\.access INFO \[(?P<request_id>[\x21-\x7e]+)\]"
    r" (?P<method>[A-Z]+) (?P<path>/\S*) (?P<status>\d{3}) (?P<duration>\d+\.\d)ms"
    r' (?P<client>\S+) "(?P<user_agent>[^"]*)"$'
)


JSON_MEMBERS = {"time", "logger", "level", "request_id", "message"}


def parse_log(lines: list[str], log_format: str) -> tuple[list[str], list[dict[str, str]]]:
    """Lines that are not well-formed, and the fields of every access line."""
    malformed: list[str] = []
    access: list[dict[str, str]] = []
    for line in lines:
        if log_format == "text":
            if not TEXT_LINE.match(line):
                malformed.append(line)
            elif match := ACCESS_LINE.match(line):
                access.append(match.groupdict())
            elif "/v1/" in line:
                malformed.append(line)  # only access lines may name a path
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            malformed.append(line)
            continue
        if not isinstance(entry, dict) or not entry.keys() >= JSON_MEMBERS:
            malformed.append(line)
        elif entry["logger"] == "messaging.access":
            access.append(
                {key: str(entry[key]) for key in ("request_id", "method", "path", "status")}
            )
        elif "/v1/" in line:
            malformed.append(line)
    return malformed, access


def metric_sum(exposition: str, sample_name: str, **labels: str) -> float:
    """Sum of every sample called ``sample_name`` whose labels include ``labels``."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == sample_name and labels.items() <= sample.labels.items()
    )


def log_files(server: RunningServer) -> list[Path]:
    """The live log file and its rotated copies, oldest first."""
    live = Path(server.env["LOG_FILE"])
    rotated = sorted(live.parent.glob(live.name + ".[0-9]*"), key=lambda p: -int(p.suffix[1:]))
    return [*rotated, live]


def write_stale_metrics(directory: Path) -> None:
    """What a previous run leaves behind: a worker's counter file with 1000 creates."""
    directory.mkdir(parents=True, exist_ok=True)
    script = (
        "from prometheus_client import Counter\n"
        "Counter('messaging_messages_created', 'stale').inc(1000)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script],
        env={"PROMETHEUS_MULTIPROC_DIR": str(directory)},
        check=True,
    )
    assert list(directory.glob("*.db"))


def read_config(settings: dict[str, str]) -> dict[str, object]:
    """The settings gunicorn.conf.py makes from ``settings`` (run as gunicorn's master would)."""
    script = (
        "import json, os, runpy\n"
        "config = runpy.run_path('gunicorn.conf.py')\n"
        "names = ('bind', 'workers', 'timeout', 'graceful_timeout', 'preload_app')\n"
        "found = {name: config[name] for name in names}\n"
        "found['metrics_dir'] = os.environ['PROMETHEUS_MULTIPROC_DIR']\n"
        "found['cpus'] = len(os.sched_getaffinity(0))\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=server_environment(settings),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_config_takes_port_and_workers_from_the_environment(tmp_path):
    config = read_config(
        {"PORT": "18081", "WEB_CONCURRENCY": "3", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    )
    assert config["bind"] == "0.0.0.0:18081"
    assert config["workers"] == 3
    assert config["metrics_dir"] == str(tmp_path)
    assert config["preload_app"] is False
    assert config["timeout"] > config["graceful_timeout"] > 0


def test_config_defaults_to_port_8080_two_workers_per_cpu_and_a_private_metrics_dir():
    config = read_config({})
    assert config["bind"] == "0.0.0.0:8080"
    assert config["workers"] == 2 * config["cpus"] + 1
    metrics_dir = Path(config["metrics_dir"])
    assert metrics_dir.name.startswith("messaging-metrics-")
    assert metrics_dir.is_dir()
    metrics_dir.rmdir()  # gunicorn's on_exit would; no gunicorn ran here


def create_body(number: int, account_id: int) -> dict[str, object]:
    return {
        "account_id": account_id,
        "sender_number": f"+1555{number:07d}",
        "receiver_number": "+15559870000",
        "message_text": f"load {number}",
    }


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_concurrent_creates_are_counted_once_in_metrics_and_logs(
    start_server, mariadb_database, tmp_path, log_format
):
    creates = 300
    metrics_directory = tmp_path / "metrics"
    write_stale_metrics(metrics_directory)
    server = start_server(
        DATABASE_URL=mariadb_database,
        WEB_CONCURRENCY=str(WORKERS),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_directory),
        LOG_MAX_BYTES="20000",
        LOG_BACKUP_COUNT="50",
        LOG_FORMAT=log_format,
    )
    assert len(server.wait_for_workers(WORKERS)) == WORKERS

    def create(number: int) -> tuple[int, str]:
        response = server.post(
            "/v1/create",
            create_body(number, account_id=1),
            headers={"X-Request-ID": f"load-{number}"},
        )
        return response.status, response.headers["X-Request-ID"]

    with ThreadPoolExecutor(CLIENTS) as clients:
        results = list(clients.map(create, range(creates)))
    assert results == [(200, f"load-{number}") for number in range(creates)]

    exposition = server.get("/metrics").body.decode()
    assert metric_sum(exposition, "messaging_messages_created_total") == creates
    assert metric_sum(exposition, "flask_http_request_total", method="POST") == creates
    assert (
        metric_sum(exposition, "flask_http_request_total", method="POST", status="200") == creates
    )
    assert (
        metric_sum(
            exposition,
            "flask_http_request_duration_seconds_count",
            method="POST",
            url_rule="/v1/create",
            status="200",
        )
        == creates
    )
    assert metric_sum(exposition, "messaging_database_errors_total") == 0

    files = log_files(server)
    assert len(files) >= 2, "LOG_MAX_BYTES=20000 should have rotated the log at least once"
    lines = [line for path in files for line in path.read_text().splitlines()]
    malformed, access = parse_log(lines, log_format)
    assert malformed == []
    create_lines = [entry for entry in access if entry["path"] == "/v1/create"]
    assert len(create_lines) == creates
    assert sorted(entry["request_id"] for entry in create_lines) == sorted(
        f"load-{number}" for number in range(creates)
    )
    assert {(entry["method"], entry["status"]) for entry in create_lines} == {("POST", "200")}


@pytest.mark.slow
def test_sixteen_clients_create_400_messages_and_all_come_back_through_link_pages(
    start_server, mariadb_database
):
    creates = 400
    account_id = 4242
    server = start_server(DATABASE_URL=mariadb_database, WEB_CONCURRENCY=str(WORKERS))

    def create(number: int) -> tuple[int, str]:
        response = server.post("/v1/create", create_body(number, account_id))
        return response.status, response.json()["message_id"]

    with ThreadPoolExecutor(CLIENTS) as clients:
        results = list(clients.map(create, range(creates)))
    assert {status for status, _ in results} == {200}
    created_ids = {message_id for _, message_id in results}
    assert len(created_ids) == creates

    listed: list[str] = []
    pages = 0
    url: str | None = server.url(f"/v1/get/messages/{account_id}?limit=50")
    while url:
        response = server.get(url.removeprefix(server.base_url))
        assert response.status == 200
        listed.extend(message["message_id"] for message in response.json())
        pages += 1
        url = response.next_link()
    assert pages == creates // 50
    assert len(listed) == len(set(listed)) == creates
    assert set(listed) == created_ids


AUTH_WARNING = "AUTH_ENABLED is off"


@pytest.mark.slow
def test_with_json_logs_every_console_line_is_json_and_the_auth_warning_comes_once(
    start_server, tmp_path
):
    server = start_server(
        DATABASE_URL=f"sqlite:///{tmp_path / 'messaging.sqlite3'}",
        WEB_CONCURRENCY="2",
        LOG_FORMAT="json",
    )
    server.wait_for_workers(2)
    assert server.get("/health", headers={"User-Agent": "probe/1.0"}).status == 200
    assert server.stop() == 0

    lines = server.console_text().splitlines()
    entries = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    assert all(isinstance(entry, dict) and entry.keys() >= JSON_MEMBERS for entry in entries)
    gunicorn_lines = [e["message"] for e in entries if e["logger"].startswith("gunicorn.")]
    assert any(message.startswith("Starting gunicorn") for message in gunicorn_lines)
    assert sum(message.startswith("Booting worker") for message in gunicorn_lines) >= 2
    assert [e["level"] for e in entries if AUTH_WARNING in e["message"]] == ["WARNING"]
    probes = [
        e for e in entries if e["logger"] == "messaging.access" and e["user_agent"] == "probe/1.0"
    ]
    assert [(e["path"], e["client"]) for e in probes] == [("/health", "127.0.0.1")]
    # The file gets the same lines as the console. Lines that two processes write at the same
    # moment (both workers exiting) may reach the two in different orders.
    logged = [
        json.loads(line) for path in log_files(server) for line in path.read_text().splitlines()
    ]
    assert sorted(e["message"] for e in logged) == sorted(e["message"] for e in entries)


@pytest.mark.slow
def test_error_log_never_carries_a_query_string(start_server, tmp_path):
    # gunicorn answers the malformed request itself: the database is never asked.
    server = start_server(DATABASE_URL=f"sqlite:///{tmp_path}/unused.sqlite3", WEB_CONCURRENCY="1")
    number = "15551234567"
    answer = raw_request(
        server.port,
        f"GET /v1/search?sender_number=%2B{number}\x01 HTTP/1.1\r\nHost: a\r\n\r\n".encode(),
    )
    assert answer.startswith(b"HTTP/1.1 400")
    console = server.console_text()
    assert "Invalid HTTP request line" in console
    assert "/v1/search?(query hidden)" in console
    assert number not in console


def chunked_create(body: bytes, chunk_size: str | None = None) -> bytes:
    """A create whose body is sent in one chunk; ``chunk_size`` replaces its size line."""
    size = chunk_size if chunk_size is not None else f"{len(body):x}"
    return (
        b"POST /v1/create HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + size.encode()
        + b"\r\n"
        + body
        + b"\r\n0\r\n\r\n"
    )


def status_and_body(answer: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def migrated_sqlite_server(start_server, tmp_path):
    """One gunicorn worker on a fresh SQLite file that init-db has migrated."""
    url = f"sqlite:///{tmp_path}/messaging.sqlite3"
    server = start_server(DATABASE_URL=url, WEB_CONCURRENCY="1")
    subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "messaging", "init-db"],
        cwd=REPO_ROOT,
        env=server.env,
        check=True,
        capture_output=True,
    )
    return server


@pytest.mark.slow
def test_chunked_bodies_meet_the_same_limits_as_any_other(start_server, tmp_path):
    server = migrated_sqlite_server(start_server, tmp_path)
    message = b'{"account_id": 6, "sender_number": "+15551230006", "receiver_number": "+15550006"}'
    limit = 65536

    status, headers, body = status_and_body(raw_request(server.port, chunked_create(message)))
    assert status == 200, body

    # A valid object padded past MAX_CONTENT_LENGTH: refused whole, not cut at the limit.
    padded = message + b" " * (limit + 1 - len(message))
    status, headers, body = status_and_body(raw_request(server.port, chunked_create(padded)))
    assert (status, headers["Content-Type"]) == (413, "application/problem+json")

    # Exactly at the limit is still a body like any other.
    exact = message + b" " * (limit - len(message))
    status, headers, body = status_and_body(raw_request(server.port, chunked_create(exact)))
    assert status == 200, body

    status, headers, body = status_and_body(
        raw_request(server.port, chunked_create(message, chunk_size="zz"))
    )
    assert (status, headers["Content-Type"]) == (400, "application/problem+json")
    assert headers["X-Request-ID"]

    assert len(server.get("/v1/get/messages/6").json()) == 2


@pytest.mark.slow
def test_search_with_100_values_in_every_list_is_not_too_long(start_server, tmp_path):
    server = migrated_sqlite_server(start_server, tmp_path)
    # The longest spelling a client may choose: each value its own parameter, '+' encoded.
    values = {
        "message_id": [str(uuid.uuid4()) for _ in range(100)],
        "account_id": [str(2**63 - 1 - n) for n in range(100)],
        "sender_number": [f"%2B{100000000000000 + n}" for n in range(100)],
        "receiver_number": [f"%2B{200000000000000 + n}" for n in range(100)],
    }
    query = "&".join(f"{name}={value}" for name, listed in values.items() for value in listed)
    path = f"/v1/search?{query}&limit=1000"
    assert len(path) > 14_000
    response = server.get(path)
    assert response.status == 200, response.body[:300]
    assert response.json() == []

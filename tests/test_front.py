"""`make serve` (deploy/front.py): nginx in front of gunicorn, as real processes on real sockets.

nginx comes from Debian's ``nginx`` package, which ``.ci/run`` installs: without it these tests
are skipped locally and fail under CI. Servers listen on fixed ports below the kernel's
ephemeral range; the next candidate is tried when one is taken.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from werkzeug.http import HTTP_STATUS_CODES

from deploy.front import (
    INSTALL_HINT,
    MAIN_TEMPLATE,
    SITE_TEMPLATE,
    TEMPLATE_VARIABLE,
    Front,
    FrontError,
    render,
)
from messaging.limits import SEARCH_VALUES_MAX
from tests.servers import LOOPBACK, REPO_ROOT, HttpResponse, RunningServer, http_request

pytestmark = pytest.mark.slow

# Candidates for each server a test starts; a test that runs beside the module's front uses
# another range.
FRONT_PORTS = (23080, 23081, 23082, 23083)
OWN_FRONT_PORTS = (23090, 23091, 23092, 23093)
NGINX_ONLY_PORTS = (23100, 23101, 23102, 23103)
STARTUP_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 40
# Not the default, so a test can tell that nginx takes the service's setting.
BODY_LIMIT = 20_000
# The front's promises (deploy/nginx/messaging.conf.template).
CLIENT_TIMEOUT_SECONDS = 10
HEADER_BUFFER_BYTES = 32 * 1024
UNAVAILABLE_RETRY_AFTER = "5"
ANSWER_WITHIN_SECONDS = 1.0
SLOW_CLIENTS = 40
LOG_WAIT_SECONDS = 5
# The longest request line gunicorn accepts unless its limit is lifted (0).
GUNICORN_REQUEST_LINE_MAX = 8190
CREATE_BODY = {"account_id": 7, "sender_number": "+15551230001", "receiver_number": "+15559870001"}


@pytest.fixture(scope="module")
def short_tmp() -> Iterator[Path]:
    """A directory with a short path: a Unix socket's path holds at most 107 bytes."""
    with tempfile.TemporaryDirectory(prefix="front-") as directory:
        yield Path(directory)


def make_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without make's own variables or the service's settings."""
    dropped = re.compile(r"^(MAKE\w*|MFLAGS|DB_\w+|DATABASE_URL|LOG_\w+|PORT|WEB_CONCURRENCY)$")
    env = {name: value for name, value in os.environ.items() if not dropped.match(name)}
    env.update(settings)
    return env


def wait_for_group_to_end(make: subprocess.Popen[bytes]) -> bool:
    """Whether make and everything it started (its process group) ended in time."""
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        make.poll()  # reaped: a zombie would still count as a member of the group
        try:
            os.killpg(make.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def stop_group(server: RunningServer) -> None:
    """SIGTERM to make (which passes it on), then the whole group must be gone."""
    server.stop()
    if not wait_for_group_to_end(server.process):
        os.killpg(server.process.pid, signal.SIGKILL)
        raise AssertionError(f"make serve left processes behind:\n{server.console_text()}")


def launch_serve(workdir: Path, port: int, settings: Mapping[str, str]) -> RunningServer:
    env = make_environment(
        {
            "PORT": str(port),
            "RUN_DIR": str(workdir / "run"),
            "DATABASE_URL": f"sqlite:///{workdir / 'messaging.sqlite3'}",
            "LOG_FILE": str(workdir / "logs" / "app.log"),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "WEB_CONCURRENCY": "2",
            **settings,
        }
    )
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "console.log", "wb") as console:
        process = subprocess.Popen(
            ["make", "serve"],
            cwd=REPO_ROOT,
            env=env,
            stdout=console,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return RunningServer(process, port, workdir, env)


def wait_until_serving(server: RunningServer) -> None:
    """Until this front's nginx has its port and /health answers 200 through it.

    nginx writes its pid file only once it holds its listening sockets.
    """
    serving = re.compile(rf"serving on http://0\.0\.0\.0:{server.port} \(nginx (\d+)\)")
    pid_file = server.workdir / "run" / "nginx.pid"
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"make serve exited:\n{server.console_text()[-3000:]}")
        started = serving.search(server.console_text())
        if started and pid_file.exists() and pid_file.read_text().strip() == started.group(1):
            try:
                if server.get("/health", timeout=5).status == 200:
                    return
            except OSError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"make serve did not answer in time:\n{server.console_text()[-3000:]}")


@contextmanager
def serving(
    workdir: Path, ports: Sequence[int], settings: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    """`make serve` on the first free port of ``ports``; stopped, with all it started, after."""
    for port in ports:
        server = launch_serve(workdir / str(port), port, settings or {})
        try:
            wait_until_serving(server)
            break
        except AssertionError:
            stop_group(server)
            if "Address already in use" not in server.console_text() or port == ports[-1]:
                raise
    try:
        yield server
    finally:
        stop_group(server)


@pytest.fixture(scope="module")
def front(nginx: str, short_tmp: Path) -> Iterator[RunningServer]:
    with serving(short_tmp / "front", FRONT_PORTS, {"MAX_CONTENT_LENGTH": str(BODY_LIMIT)}) as s:
        yield s


def raw_exchange(port: int, data: bytes, timeout: float = 15) -> bytes:
    """Send ``data`` as it is and read until nginx closes the connection."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as connection:
        connection.sendall(data)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, headers = split_head(head)
    return int(status_line.split()[1]), headers, body


def assert_problem(status: int, headers: Mapping[str, str], body: bytes, expected: int) -> dict:
    assert status == expected, body
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["type"] == "about:blank"
    assert problem["title"] == HTTP_STATUS_CODES[expected]
    assert problem["status"] == expected
    assert problem["detail"]
    assert headers["x-request-id"]
    return problem


def access_lines(path: Path, wanted: Callable[[list[dict]], bool]) -> list[dict]:
    """nginx's access log once ``wanted`` holds: nginx writes a line after it has answered."""
    deadline = time.monotonic() + LOG_WAIT_SECONDS
    while True:
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        if wanted(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def logged_request(front: RunningServer, request_id: str) -> dict:
    path = front.workdir / "run" / "access.log"
    lines = access_lines(path, lambda lines: any(x["request_id"] == request_id for x in lines))
    [line] = [line for line in lines if line["request_id"] == request_id]
    return line


class SlowClients:
    """Connections that send a request as slowly as nginx lets them, each on its own socket.

    Half dribble header bytes (a header line every two seconds), half send a
    ``Content-Length: 1000`` create body at one byte a second.
    """

    HEADER_DRIP_SECONDS = 2
    BODY_DRIP_SECONDS = 1

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.sockets: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.drip, daemon=True)

    def __enter__(self) -> SlowClients:
        for number in range(self.count):
            connection = socket.create_connection((LOOPBACK, self.port), timeout=5)
            if number % 2:
                connection.sendall(b"GET /health HTTP/1.1\r\nHost: slow.test\r\n")
            else:
                connection.sendall(
                    b"POST /v1/create HTTP/1.1\r\nHost: slow.test\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
                )
            self.sockets.append(connection)
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopped.set()
        self.thread.join()
        for connection in self.sockets:
            connection.close()

    def drip(self) -> None:
        tick = 0
        while not self.stopped.wait(self.BODY_DRIP_SECONDS):
            tick += 1
            for number, connection in enumerate(self.sockets):
                try:
                    if number % 2 == 0:
                        connection.sendall(b" ")
                    elif tick % self.HEADER_DRIP_SECONDS == 0:
                        connection.sendall(f"X-Slow-{tick}: 1\r\n".encode())
                except OSError:
                    pass

    def still_open(self) -> int:
        """How many are still connected and unanswered."""
        open_count = 0
        for connection in self.sockets:
            readable, _, _ = select.select([connection], [], [], 0)
            if not readable:
                open_count += 1
        return open_count


def timed_requests(server: RunningServer) -> list[HttpResponse]:
    responses = []
    for _ in range(3):
        responses.append(server.get("/health", timeout=ANSWER_WITHIN_SECONDS * 5))
        responses.append(server.post("/v1/create", CREATE_BODY, timeout=ANSWER_WITHIN_SECONDS * 5))
    return responses


def test_health_and_create_answer_within_a_second_while_40_slow_clients_hang_on(front):
    with SlowClients(front.port, SLOW_CLIENTS) as slow:
        # Long enough for every slow client to have been accepted and to have dripped more.
        time.sleep(2.5)
        responses = timed_requests(front)
        assert slow.still_open() == SLOW_CLIENTS
    assert [response.status for response in responses] == [200] * len(responses)
    slowest = max(response.elapsed for response in responses)
    assert slowest < ANSWER_WITHIN_SECONDS, [round(r.elapsed, 3) for r in responses]


def test_the_same_slow_clients_hold_every_worker_of_gunicorn_alone(start_server, tmp_path):
    """Why the front exists: without it, the slow clients above take the service down."""
    server = start_server(
        DATABASE_URL=f"sqlite:///{tmp_path / 'bare.sqlite3'}", WEB_CONCURRENCY="2"
    )
    with SlowClients(server.port, SLOW_CLIENTS):
        time.sleep(2.5)
        with pytest.raises(OSError):
            server.get("/health", timeout=ANSWER_WITHIN_SECONDS)


def test_clients_slower_than_the_timeouts_are_disconnected(front):
    started = time.monotonic()
    with (
        socket.create_connection((LOOPBACK, front.port)) as header,
        socket.create_connection((LOOPBACK, front.port)) as body,
    ):
        header.sendall(b"GET /health HTTP/1.1\r\nHost: slow.test\r\n")
        body.sendall(b"POST /v1/create HTTP/1.1\r\nHost: slow.test\r\nContent-Length: 100\r\n\r\n{")
        for connection in (header, body):
            connection.settimeout(CLIENT_TIMEOUT_SECONDS * 3)
            # Closed without an answer: nginx does not send its 408.
            assert connection.recv(1024) == b""
    waited = time.monotonic() - started
    assert CLIENT_TIMEOUT_SECONDS - 1 < waited < CLIENT_TIMEOUT_SECONDS * 3
    expected = {("GET", "/health"), ("POST", "/v1/create")}

    def timed_out(lines: list[dict]) -> set[tuple[str, str]]:
        return {(line["method"], line["path"]) for line in lines if line["status"] == 408}

    lines = access_lines(front.workdir / "run" / "access.log", lambda x: timed_out(x) >= expected)
    assert timed_out(lines) >= expected


def padded_create_body(size: int) -> bytes:
    body = json.dumps(CREATE_BODY).encode()
    return body + b" " * (size - len(body))


def test_a_body_at_the_service_limit_passes_and_one_byte_more_is_a_413_problem(front):
    at_limit = padded_create_body(BODY_LIMIT)
    request = (
        b"POST /v1/create HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    )
    status, _, body = parse_response(raw_exchange(front.port, request % BODY_LIMIT + at_limit))
    assert status == 200, body

    over = padded_create_body(BODY_LIMIT + 1)
    raw = raw_exchange(front.port, request % (BODY_LIMIT + 1) + over)
    problem = assert_problem(*parse_response(raw), 413)
    assert f"{BODY_LIMIT} bytes" in problem["detail"]


def test_a_chunked_body_over_the_limit_is_a_413_problem(front):
    over = padded_create_body(BODY_LIMIT + 1)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(over[i : i + 4096]), over[i : i + 4096])
        for i in range(0, len(over), 4096)
    )
    request = (
        b"POST /v1/create HTTP/1.1\r\nHost: front.test\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    raw = raw_exchange(front.port, request + chunks + b"0\r\n\r\n")
    assert_problem(*parse_response(raw), 413)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        pytest.param(
            b"GET /v1/search?x=" + b"a" * HEADER_BUFFER_BYTES + b" HTTP/1.1\r\nHost: t\r\n\r\n",
            414,
            id="request-line-over-32KiB",
        ),
        pytest.param(
            b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: "
            + b"a" * HEADER_BUFFER_BYTES
            + b"\r\n\r\n",
            431,
            id="header-line-over-32KiB",
        ),
        pytest.param(
            b"GET /health HTTP/1.1\r\nHost: t\r\n"
            + b"".join(b"X-Many-%d: %s\r\n" % (n, b"a" * 30_000) for n in range(5))
            + b"\r\n",
            431,
            id="headers-over-128KiB",
        ),
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", 400, id="not-http"),
        pytest.param(b"GET /health HTTP/1.1\r\n\r\n", 400, id="http-1.1-without-host"),
        pytest.param(b"GET /health HTTP/3.0\r\nHost: t\r\n\r\n", 505, id="http-version"),
        pytest.param(
            b"POST /v1/create HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            id="unknown-transfer-encoding",
        ),
        pytest.param(
            b"GET /_front/503 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            404,
            id="the-fronts-own-error-uris",
        ),
    ],
)
def test_errors_nginx_answers_itself_are_problem_json(front, request_bytes, status):
    assert_problem(*parse_response(raw_exchange(front.port, request_bytes)), status)


def test_a_search_with_the_most_values_in_every_list_passes_the_front(front):
    """Every list at its maximum, with full-length values: more than gunicorn's own limit allows."""
    created = [front.post("/v1/create", CREATE_BODY).json() for _ in range(2)]
    count = SEARCH_VALUES_MAX
    message_ids = [m["message_id"] for m in created]
    message_ids += [str(uuid.uuid4()) for _ in range(count - 2)]
    accounts = [str(CREATE_BODY["account_id"])] + [str(2**63 - 1 - n) for n in range(count - 1)]
    senders = [CREATE_BODY["sender_number"]] + [f"+1555{n:011d}" for n in range(count - 1)]
    receivers = [CREATE_BODY["receiver_number"]] + [f"+1666{n:011d}" for n in range(count - 1)]
    query = "&".join(
        f"{name}={','.join(values).replace('+', '%2B')}"
        for name, values in (
            ("message_id", message_ids),
            ("account_id", accounts),
            ("sender_number", senders),
            ("receiver_number", receivers),
        )
    )
    target = f"/v1/search?{query}&created_after=2000-01-01T00:00:00Z&limit=1"
    assert len(target) > GUNICORN_REQUEST_LINE_MAX

    first = front.get(target)
    assert first.status == 200, first.body
    assert [m["message_id"] for m in first.json()] == [created[1]["message_id"]]
    # The Link header repeats the whole query: it must fit nginx's buffer for response headers.
    next_page = urlsplit(first.next_link())
    second = front.get(f"{next_page.path}?{next_page.query}")
    assert second.status == 200, second.body
    assert [m["message_id"] for m in second.json()] == [created[0]["message_id"]]


def service_log(front: RunningServer) -> str:
    return (front.workdir / "logs" / "app.log").read_text()


def test_x_request_id_passes_through_both_ways(front):
    response = front.get("/health", headers={"X-Request-ID": "client-chosen-id-1"})
    assert response.headers["X-Request-ID"] == "client-chosen-id-1"
    assert "client-chosen-id-1" in service_log(front)
    assert logged_request(front, "client-chosen-id-1")["path"] == "/health"


@pytest.mark.parametrize(
    "sent", [None, "", "x" * 129, "has space"], ids=["absent", "empty", "too-long", "space"]
)
def test_nginx_makes_the_request_id_the_service_and_both_logs_use(front, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    response = front.get("/health", headers=headers)
    made = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert made in service_log(front)
    assert logged_request(front, made)["path"] == "/health"


@contextmanager
def nginx_alone(nginx: str, workdir: Path) -> Iterator[Front]:
    """nginx with the front's configuration and nothing on its upstream socket."""
    workdir.mkdir(parents=True, exist_ok=True)
    for port in NGINX_ONLY_PORTS:
        front = Front(port, workdir / f"run-{port}", BODY_LIMIT)
        front.write_config()
        with open(workdir / f"nginx-{port}.log", "wb") as console:
            process = subprocess.Popen(
                front.nginx_command(nginx), stdout=console, stderr=subprocess.STDOUT
            )
        # The pid file appears once nginx holds its port; a taken port ends the process.
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            if (front.run_dir / "nginx.pid").exists():
                break
            time.sleep(0.1)
        if process.poll() is None:
            break
        if port == NGINX_ONLY_PORTS[-1]:
            raise AssertionError((workdir / f"nginx-{port}.log").read_text())
    try:
        yield front
    finally:
        process.send_signal(signal.SIGQUIT)
        process.wait(STOP_TIMEOUT_SECONDS)


def test_a_service_that_is_not_answering_is_a_503_problem_with_retry_after(nginx, short_tmp):
    with nginx_alone(nginx, short_tmp / "unanswered") as front:
        base = f"http://{LOOPBACK}:{front.port}"
        responses = [
            http_request(f"{base}/v1/search?sender_number=%2B15557654321"),
            http_request(f"{base}/v1/create", "POST", json_body=CREATE_BODY),
            http_request(f"{base}/health", headers={"X-Request-ID": "while-down-1"}),
        ]
        for response in responses:
            headers = {name.lower(): value for name, value in response.headers.items()}
            assert_problem(response.status, headers, response.body, 503)
            assert headers["retry-after"] == UNAVAILABLE_RETRY_AFTER
        assert responses[-1].headers["X-Request-ID"] == "while-down-1"
        logs = [path.read_text() for path in (short_tmp / "unanswered").rglob("*.log")]
        assert not any("7654321" in text for text in logs)
        lines = access_lines(front.access_log, lambda lines: len(lines) == len(responses))
        assert [line["upstream_status"] for line in lines] == ["502"] * len(responses)


@pytest.mark.parametrize(
    ("stop", "name"), [(signal.SIGTERM, "sigterm-to-make"), (signal.SIGINT, "ctrl-c")]
)
def test_a_signal_stops_nginx_and_gunicorn_together(nginx, short_tmp, stop, name):
    with serving(short_tmp / name, OWN_FRONT_PORTS) as server:
        if stop == signal.SIGINT:
            # Ctrl-C: the terminal signals the whole foreground process group.
            os.killpg(server.process.pid, signal.SIGINT)
        else:
            server.process.send_signal(signal.SIGTERM)
        assert wait_for_group_to_end(server.process), server.console_text()
        with pytest.raises(OSError):
            server.get("/health", timeout=2)
        assert not (server.workdir / "run" / "gunicorn.sock").exists()


def test_serve_without_nginx_says_how_to_install_it_and_fails(short_tmp):
    result = subprocess.run(
        ["make", "serve"],
        cwd=REPO_ROOT,
        env=make_environment({"NGINX": "nginx-not-installed", "RUN_DIR": str(short_tmp / "none")}),
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode != 0
    assert "apt-get install nginx" in result.stderr
    assert INSTALL_HINT in result.stderr
    assert not (short_tmp / "none").exists()


def test_templates_name_only_the_values_each_deployment_gives():
    site = set(TEMPLATE_VARIABLE.findall(SITE_TEMPLATE.read_text()))
    assert site == {"PORT", "MESSAGING_UPSTREAM", "MAX_CONTENT_LENGTH", "NGINX_ACCESS_LOG"}
    assert set(TEMPLATE_VARIABLE.findall(MAIN_TEMPLATE.read_text())) == {"RUN_DIR"}
    with pytest.raises(FrontError, match="MAX_CONTENT_LENGTH"):
        render(SITE_TEMPLATE.read_text(), {"PORT": "1"})


def split_head(head: bytes) -> tuple[str, dict[str, str]]:
    """The first line and the headers (names lower-cased) of a request's or response's head."""
    first, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return first, headers


class RecordingUpstream:
    """A stand-in for gunicorn on the front's socket: keeps the one request nginx passes on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.head = b""
        self.body = b""
        self.thread = threading.Thread(target=self.answer_one, daemon=True)
        self.thread.start()

    def answer_one(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            received = b""
            while b"\r\n\r\n" not in received:
                received += connection.recv(65536)
            self.head, _, self.body = received.partition(b"\r\n\r\n")
            length = int(split_head(self.head)[1].get("content-length", "0"))
            while len(self.body) < length:
                self.body += connection.recv(65536)
            connection.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def request(self) -> tuple[str, dict[str, str], bytes]:
        self.thread.join(STARTUP_TIMEOUT_SECONDS)
        self.listener.close()
        self.path.unlink()
        return (*split_head(self.head), self.body)


def test_nginx_passes_a_request_on_whole_with_the_forwarding_headers(nginx, short_tmp):
    body = json.dumps(CREATE_BODY).encode()
    with nginx_alone(nginx, short_tmp / "recording") as front:
        upstream = RecordingUpstream(front.socket)
        raw = raw_exchange(
            front.port,
            b"POST /v1/create?dry=1 HTTP/1.1\r\nHost: api.test:8443\r\n"
            b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
            b"X-Request-ID: recorded-1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + b"%x\r\n%s\r\n0\r\n\r\n"
            % (len(body), body),
        )
        assert parse_response(raw)[0] == 200
        request_line, headers, received = upstream.request()
    assert request_line == "POST /v1/create?dry=1 HTTP/1.0"
    assert headers["host"] == "api.test:8443"
    assert headers["x-request-id"] == "recorded-1"
    # The address nginx saw comes last, where the service's proxy handling looks.
    assert headers["x-forwarded-for"] == f"203.0.113.9, {LOOPBACK}"
    # nginx's own scheme: a client cannot claim https.
    assert headers["x-forwarded-proto"] == "http"
    # Chunked on the way in, whole on the way out.
    assert headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in headers
    assert received == body

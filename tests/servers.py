"""Real server processes for tests: gunicorn on a free port, awaited, always stopped.

Tests that need the service as operators run it (several workers, real sockets,
log files shared between processes) start it with ``running_server`` — or with
the ``start_server`` fixture in ``conftest.py`` — and talk to it over HTTP with
``http_request``. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
GUNICORN_COMMAND = ("gunicorn", "--config", "gunicorn.conf.py", "wsgi:app")
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
LAUNCH_ATTEMPTS = 3
REQUEST_TIMEOUT_SECONDS = 30

# The server's settings come only from what a test passes: nothing leaks in from the shell.
SERVER_VARIABLES = re.compile(
    r"^(DB_\w+|DATABASE_URL|LOG_\w+|PORT|WEB_CONCURRENCY|GUNICORN_\w+|PROMETHEUS_MULTIPROC_DIR"
    r"|MAX_CONTENT_LENGTH|AUTH_\w+)$"
)
LINK_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@dataclass
class HttpResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.body)

    def next_link(self) -> str | None:
        match = LINK_NEXT.search(self.headers.get("Link", ""))
        return match.group(1) if match else None


def http_request(
    url: str,
    method: str = "GET",
    *,
    json_body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> HttpResponse:
    """One request on a fresh connection; ``OSError`` when the connection or response fails."""
    match = re.match(r"^http://([^/:]+):(\d+)(/.*)?$", url)
    if not match or match.group(1) != LOOPBACK:
        raise ValueError(f"tests only talk to http://{LOOPBACK}:<port>/..., not {url}")
    host, port, target = match.group(1), int(match.group(2)), match.group(3) or "/"
    all_headers = dict(headers or {})
    body = None
    if json_body is not None:
        body = json.dumps(json_body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    started = time.monotonic()
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, target, body=body, headers=all_headers)
        response = connection.getresponse()
        content = response.read()
    except http.client.HTTPException as error:
        # A response cut short (a worker killed mid-answer) is a failed connection too.
        raise ConnectionError(f"{method} {target}: {error!r}") from error
    finally:
        connection.close()
    return HttpResponse(response.status, response.headers, content, time.monotonic() - started)


def raw_request(port: int, data: bytes, timeout: float = REQUEST_TIMEOUT_SECONDS) -> bytes:
    """Send ``data`` as it is (malformed requests too) and return all the server answers."""
    answer = b""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as connection:
        connection.sendall(data)
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    env: dict[str, str]
    console: Path = field(init=False)

    def __post_init__(self) -> None:
        self.console = self.workdir / "console.log"

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return http_request(self.url(path), **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> HttpResponse:
        return http_request(self.url(path), "POST", json_body=body, **kwargs)

    def worker_pids(self) -> list[int]:
        """The master's live children: gunicorn's workers."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def wait_for_workers(self, count: int, timeout: float = STARTUP_TIMEOUT_SECONDS) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count:
                return pids
            time.sleep(0.1)
        raise AssertionError(f"expected {count} workers, have {self.worker_pids()}")

    def console_text(self) -> str:
        return self.console.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM (graceful), SIGKILL if that is not enough; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def server_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """The test process's environment without server settings, plus ``settings``."""
    env = {name: value for name, value in os.environ.items() if not SERVER_VARIABLES.match(name)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(settings)
    return env


def launch(
    workdir: Path, settings: Mapping[str, str], command: Sequence[str], cwd: Path
) -> RunningServer:
    port = free_port()
    env = server_environment(
        {
            "PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "LOG_FILE": str(workdir / "logs" / "app.log"),
            **settings,
        }
    )
    with open(workdir / "console.log", "wb") as console:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=env, stdout=console, stderr=subprocess.STDOUT
        )
    return RunningServer(process, port, workdir, env)


@contextmanager
def running_server(
    workdir: Path,
    settings: Mapping[str, str],
    command: Sequence[str] | None = None,
    *,
    cwd: Path = REPO_ROOT,
) -> Iterator[RunningServer]:
    """Start ``command`` (gunicorn by default) with ``settings`` on a free ``PORT``.

    Yields once the server says it listens on that port and ``/health`` answers
    200; the process is stopped on the way out, whatever happened. Console
    output goes to ``workdir/console.log``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, LAUNCH_ATTEMPTS + 1):
        server = launch(workdir, settings, command or GUNICORN_COMMAND, cwd)
        try:
            wait_until_healthy(server)
            break
        except AssertionError:
            server.stop()
            # Another process took the free port first: try another one.
            if "Address already in use" not in server.console_text() or attempt == LAUNCH_ATTEMPTS:
                raise
    try:
        yield server
    finally:
        server.stop()


def wait_until_healthy(server: RunningServer, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
    """Wait for this server's master to listen on its port and for ``/health`` to answer 200.

    The listening line, with the master's pid, proves that what answers is this
    server, not another process that took the port.
    """
    listening = f":{server.port} ({server.process.pid})"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(
                f"server exited with {server.process.returncode}:\n{server.console_text()[-3000:]}"
            )
        try:
            if (
                listening in server.console_text()
                and server.get("/health", timeout=5).status == 200
            ):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server did not answer /health in {timeout} s:\n{server.console_text()}")

"""Starting and stopping the gunicorn servers under test, and reading their workers' memory."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
# Workers import the app after the fork: on a loaded 2-core machine that can take a minute.
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 20
PEER_DIRECTORY = REPOSITORY / "bench" / "fastapi_peer"
PEER_REQUIREMENTS = PEER_DIRECTORY / "requirements.txt"
PEER_VENV = PEER_DIRECTORY / ".venv"
# The requirements the peer's environment was built from: rebuilt when they change.
PEER_STAMP = PEER_VENV / "requirements.sha256"
PEER_WORKERS = 4
# The packages of the peer's stack the report names, with their pinned versions.
PEER_DESCRIBED = ("fastapi", "uvicorn", "pydantic", "sqlalchemy", "pymysql")
PEER_INSTALL_TIMEOUT_SECONDS = 900


def run_in_checkout(
    command: list[str], checkout: Path, environment: dict[str, str], timeout: float, what: str
) -> str:
    """Run ``command`` with ``checkout``'s package first on the path; its standard error, or
    RuntimeError naming ``what`` with the end of it."""
    finished = subprocess.run(
        command,
        cwd=checkout,
        env={**os.environ, **environment, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{finished.stderr[-4000:]}")
    return finished.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_settings(environment: dict[str, str]) -> dict[str, str]:
    """The settings the service's own ``gunicorn.conf.py`` gives, as gunicorn prints them."""
    printed = subprocess.run(
        [GUNICORN, "--config", "gunicorn.conf.py", "--print-config", "wsgi:app"],
        cwd=REPOSITORY,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    settings = {}
    for line in printed.splitlines():
        name, separator, value = line.partition("=")
        if separator:
            settings[name.strip()] = value.strip()
    return settings


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path
    log: object = field(repr=False)

    def request(self, path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if self.request("/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not start; its log ends with:\n{tail}")

    def worker_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name in field 2 may hold spaces: the parent pid follows its ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def worker_rss_kib(self) -> dict[int, int]:
        sizes = {}
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    sizes[pid] = int(line.split()[1])
        return sizes

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_SECONDS)
        self.log.close()


def start(
    name: str,
    arguments: list[str],
    environment: dict[str, str],
    log_dir: Path,
    port: int | None = None,
    checkout: Path = REPOSITORY,
) -> Server:
    """Run gunicorn with ``arguments`` on loopback (``port``, or a free one) in ``checkout``;
    wait until /health answers."""
    return launch(
        name,
        lambda port: [GUNICORN, *arguments, "--bind", f"127.0.0.1:{port}"],
        environment,
        log_dir,
        port,
        checkout,
    )


def launch(
    name: str,
    command: Callable[[int], list[str]],
    environment: dict[str, str],
    log_dir: Path,
    port: int | None = None,
    checkout: Path = REPOSITORY,
) -> Server:
    """Run ``command(port)`` on loopback (``port``, or a free one) in ``checkout``, whose
    package it imports; wait until /health answers."""
    port = port or free_port()
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        command(port),
        cwd=checkout,
        env={**os.environ, **environment, "PYTHONPATH": str(checkout)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(name=name, port=port, process=process, log_path=log_path, log=log)
    server.wait_until_up()
    return server


def start_service(
    name: str,
    environment: dict[str, str],
    log_dir: Path,
    port: int | None = None,
    checkout: Path = REPOSITORY,
) -> Server:
    """The service of ``checkout`` (this one, or another commit's) as operators run it: its
    own ``gunicorn.conf.py``, bound to loopback."""
    return start(
        name, ["--config", "gunicorn.conf.py", "wsgi:app"], environment, log_dir, port, checkout
    )


def start_floor(settings: dict[str, str], environment: dict[str, str], log_dir: Path) -> Server:
    """The floor app with the service's worker count, worker class and threads."""
    # An explicit empty config: gunicorn would otherwise read ./gunicorn.conf.py, the service's.
    arguments = [
        "--config",
        os.devnull,
        "--workers",
        settings["workers"],
        "--worker-class",
        settings["worker_class"],
        "--threads",
        settings.get("threads", "1"),
        "--keep-alive",
        settings.get("keepalive", "2"),
        *(
            ["--worker-tmp-dir", settings["worker_tmp_dir"]]
            if settings.get("worker_tmp_dir") not in (None, "None")
            else []
        ),
        # Two servers on one host would fight over the default control socket.
        "--no-control-socket",
        "bench.floor:app",
    ]
    return start("floor", arguments, environment, log_dir)


def peer_python() -> Path:
    """The FastAPI peer's interpreter, in a virtual environment of its own built from
    ``bench/fastapi_peer/requirements.txt`` (again whenever that file changes)."""
    wanted = hashlib.sha256(PEER_REQUIREMENTS.read_bytes()).hexdigest()
    python = PEER_VENV / "bin" / "python"
    if python.exists() and PEER_STAMP.exists() and PEER_STAMP.read_text().strip() == wanted:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--requirement",
            str(PEER_REQUIREMENTS),
        ],
        check=True,
        timeout=PEER_INSTALL_TIMEOUT_SECONDS,
    )
    PEER_STAMP.write_text(wanted + "\n")
    return python


def peer_description() -> str:
    """The peer's pinned stack and worker count, as the report names it."""
    pins = {}
    for line in PEER_REQUIREMENTS.read_text().splitlines():
        requirement, separator, version = line.partition("==")
        if separator and not line.startswith("#"):
            pins[requirement.split("[")[0]] = version.strip()
    stack = ", ".join(f"{name} {pins[name]}" for name in PEER_DESCRIBED if name in pins)
    return f"{stack}; uvicorn --workers {PEER_WORKERS}"


def start_peer(environment: dict[str, str], log_dir: Path) -> Server:
    """The FastAPI peer under ``uvicorn --workers 4``, as FastAPI's deployment docs run it."""
    python = str(peer_python())

    def command(port: int) -> list[str]:
        return [
            python,
            "-m",
            "uvicorn",
            "bench.fastapi_peer.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(PEER_WORKERS),
        ]

    return launch("fastapi-peer", command, environment, log_dir)

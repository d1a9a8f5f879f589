"""`make serve`: the schema migrated, then nginx in front of gunicorn, both in the foreground.

nginx reads each request whole before it passes it to a gunicorn worker on a Unix socket, and
buffers each response, so slow clients wait in nginx instead of holding the service's sync
workers. The configuration is deploy/nginx/*.template, rendered into ``RUN_DIR`` (default
``run/``, ignored by git): nothing outside it is written, so this runs as root or as a plain
user and never touches /etc/nginx. Ctrl-C or SIGTERM stops both; either one exiting stops the
other, and this exits non-zero.

Settings from the environment: ``PORT`` (nginx's port, default 8080), ``RUN_DIR``,
``MAX_CONTENT_LENGTH`` (read as the service reads it, and enforced by nginx too), ``NGINX``
(the nginx binary, when it is not on the usual paths); everything else reaches gunicorn and
the service unchanged.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from messaging.config import ConfigError, settings_from_env

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = REPO_ROOT / "deploy" / "nginx"
SITE_TEMPLATE = TEMPLATES / "messaging.conf.template"
MAIN_TEMPLATE = TEMPLATES / "nginx.conf.template"
VENV_BIN = Path(sys.executable).parent
INIT_DB_COMMAND = (str(VENV_BIN / "flask"), "--app", "messaging", "init-db")
DEFAULT_PORT = 8080
DEFAULT_RUN_DIR = REPO_ROOT / "run"
# Debian installs nginx in /usr/sbin, which is not on a plain user's PATH.
NGINX_SEARCH_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin")
INSTALL_HINT = (
    "nginx is not installed; install it with `sudo apt-get install nginx` (Debian, Ubuntu),"
    " or set NGINX to its path, and run `make serve` again"
)
TEMPLATE_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
# nginx writes paths into its configuration unquoted.
UNSAFE_PATH_CHARACTERS = re.compile(r"[\s;'\"{}$#\\]")
# sun_path holds 108 bytes, the last one a NUL.
UNIX_SOCKET_PATH_MAX = 107
STARTUP_TIMEOUT_SECONDS = 60
# gunicorn's graceful_timeout (20 s) and nginx's worker_shutdown_timeout (20 s), and a margin.
STOP_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.2
# nginx enforces the request-line and header limits (deploy/nginx/messaging.conf.template:
# 32 KiB, answered as problem+json); gunicorn's own would cut the longest searches short.
GUNICORN_LIMITS_BEHIND_NGINX = ("--limit-request-line", "0", "--limit-request-field_size", "0")


class FrontError(Exception):
    """The front cannot start; the message says why and what to do."""


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``${NAME}`` replaced, as the nginx image's envsubst does."""
    missing = sorted(set(TEMPLATE_VARIABLE.findall(template)) - values.keys())
    if missing:
        raise FrontError(f"no value for {', '.join(missing)} in the nginx template")
    return TEMPLATE_VARIABLE.sub(lambda match: values[match.group(1)], template)


@dataclass(frozen=True)
class Front:
    """One nginx + gunicorn pair: where nginx listens, its run directory, the body limit."""

    port: int
    run_dir: Path
    max_content_length: int

    @property
    def socket(self) -> Path:
        return self.run_dir / "gunicorn.sock"

    @property
    def site_conf(self) -> Path:
        return self.run_dir / "messaging.conf"

    @property
    def main_conf(self) -> Path:
        return self.run_dir / "nginx.conf"

    @property
    def access_log(self) -> Path:
        return self.run_dir / "access.log"

    def site_values(self) -> dict[str, str]:
        return {
            "PORT": str(self.port),
            "MESSAGING_UPSTREAM": f"unix:{self.socket}",
            "MAX_CONTENT_LENGTH": str(self.max_content_length),
            "NGINX_ACCESS_LOG": str(self.access_log),
        }

    def write_config(self) -> None:
        """Render both templates into the run directory."""
        if UNSAFE_PATH_CHARACTERS.search(str(self.run_dir)):
            raise FrontError(f"RUN_DIR {self.run_dir} has characters nginx cannot take in a path")
        if len(str(self.socket)) > UNIX_SOCKET_PATH_MAX:
            raise FrontError(f"RUN_DIR {self.run_dir} is too long for a Unix socket path")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.site_conf.write_text(render(SITE_TEMPLATE.read_text(), self.site_values()))
        main = render(MAIN_TEMPLATE.read_text(), {"RUN_DIR": str(self.run_dir)})
        self.main_conf.write_text(main)

    def nginx_command(self, nginx: str) -> list[str]:
        command = [nginx, "-e", "stderr", "-p", f"{self.run_dir}/", "-c", str(self.main_conf)]
        if os.geteuid() == 0:
            # Workers act as the checkout's owner, who can reach the socket and the run directory.
            owner = pwd.getpwuid(REPO_ROOT.stat().st_uid)
            group = grp.getgrgid(owner.pw_gid).gr_name
            command += ["-g", f"user {owner.pw_name} {group};"]
        return command

    def gunicorn_command(self) -> list[str]:
        return [
            str(VENV_BIN / "gunicorn"),
            *("--config", "gunicorn.conf.py", "--bind", f"unix:{self.socket}"),
            *GUNICORN_LIMITS_BEHIND_NGINX,
            "wsgi:app",
        ]


def front_from_env(environ: Mapping[str, str]) -> Front:
    raw_port = environ.get("PORT", "").strip() or str(DEFAULT_PORT)
    if not raw_port.isascii() or not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise FrontError(f"PORT must be a TCP port number, got {raw_port!r}")
    run_dir = Path(environ.get("RUN_DIR", "").strip() or DEFAULT_RUN_DIR).absolute()
    try:
        max_content_length = settings_from_env(environ)["MAX_CONTENT_LENGTH"]
    except ConfigError as error:
        raise FrontError(str(error)) from None
    return Front(int(raw_port), run_dir, max_content_length)


def find_nginx(environ: Mapping[str, str]) -> str:
    """The nginx binary: ``NGINX``, else the first on PATH and the sbin directories."""
    name = environ.get("NGINX", "").strip() or "nginx"
    search = os.pathsep.join([environ.get("PATH", os.defpath), *NGINX_SEARCH_PATH])
    found = shutil.which(name, path=search)
    if found is None:
        raise FrontError(INSTALL_HINT)
    return found


def check_config(nginx: str, front: Front) -> None:
    """``nginx -t``: a configuration error stops the start before gunicorn is launched."""
    result = subprocess.run(
        [*front.nginx_command(nginx), "-t", "-q"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise FrontError(f"nginx rejects its configuration:\n{result.stderr.strip()}")


def lock_run_dir(front: Front) -> int:
    """Hold a lock on the run directory for as long as this front runs."""
    front.run_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(front.run_dir / "serve.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise FrontError(
            f"another `make serve` runs in {front.run_dir}; stop it or set RUN_DIR"
        ) from None
    return descriptor


def socket_accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class Supervisor:
    """Runs gunicorn and nginx; stops both when asked to, or when either one exits."""

    def __init__(self) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.stop_signal: int | None = None

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, cwd=REPO_ROOT)
        self.processes[name] = process
        return process

    def ask_to_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum

    def exited(self) -> str | None:
        """The name of a process that has exited, if any."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                return name
        return None

    def wait_for_socket(self, path: Path) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not socket_accepts(path):
            if self.stop_signal is not None or self.exited():
                return
            if time.monotonic() > deadline:
                limit = STARTUP_TIMEOUT_SECONDS
                raise FrontError(f"gunicorn did not listen on {path} in {limit} s")
            time.sleep(POLL_SECONDS)

    def run_until_stopped(self) -> str | None:
        """Wait for a stop signal or a process's exit; return that process's name."""
        while self.stop_signal is None:
            if name := self.exited():
                return name
            time.sleep(POLL_SECONDS)
        return None

    def stop(self) -> None:
        """Graceful stop on SIGTERM (nginx: SIGQUIT); fast on Ctrl-C, as each one does it."""
        fast = self.stop_signal == signal.SIGINT
        signals = {
            "nginx": signal.SIGINT if fast else signal.SIGQUIT,
            "gunicorn": signal.SIGINT if fast else signal.SIGTERM,
        }
        for name, process in self.processes.items():
            if process.poll() is None:
                process.send_signal(signals[name])
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self.processes.values():
            try:
                process.wait(max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve(environ: Mapping[str, str]) -> int:
    front = front_from_env(environ)
    nginx = find_nginx(environ)
    lock = lock_run_dir(front)
    front.write_config()
    check_config(nginx, front)
    # As `make run` does: the schema at the newest migration before anything is served. A
    # command, not the server: its metrics would only add files to the server's directory.
    command_env = {k: v for k, v in environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    init_db = subprocess.run(INIT_DB_COMMAND, cwd=REPO_ROOT, env=command_env, check=False)
    if init_db.returncode != 0:
        raise FrontError("init-db failed (above); nothing was started")

    supervisor = Supervisor()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, supervisor.ask_to_stop)
    try:
        gunicorn = supervisor.start("gunicorn", front.gunicorn_command())
        supervisor.wait_for_socket(front.socket)
        if supervisor.stop_signal is None and not supervisor.exited():
            proxy = supervisor.start("nginx", front.nginx_command(nginx))
            print(
                f"serving on http://0.0.0.0:{front.port} (nginx {proxy.pid}) in front of"
                f" gunicorn {gunicorn.pid} on unix:{front.socket}; Ctrl-C stops both",
                file=sys.stderr,
                flush=True,
            )
        died = supervisor.run_until_stopped()
    finally:
        supervisor.stop()
        os.close(lock)
    if died is not None:
        print(f"{died} exited on its own; stopped the front", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    try:
        return serve(os.environ)
    except FrontError as error:
        print(f"make serve: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

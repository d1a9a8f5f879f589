"""The factory: configuration applied, the SQLite default, settings refused, secrets never shown."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from messaging import create_app
from messaging.config import parse_duration, settings_from_env

pytestmark = pytest.mark.database_agnostic

SECRET = "s3cr3t-pa55word"


def test_testing_flag_comes_from_config(database_url):
    assert not create_app({"SQLALCHEMY_DATABASE_URI": database_url, "LOG_FILE": ""}).testing
    assert create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "LOG_FILE": ""}
    ).testing


def test_no_database_variables_means_sqlite_in_instance_folder(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOG_FILE", "")
    app = create_app()
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    assert url.get_backend_name() == "sqlite"
    assert url.database.startswith(app.instance_path)


def test_environment_configures_the_app(monkeypatch, tmp_path, database_url):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("MAX_CONTENT_LENGTH", "1000")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "x.log"))
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 1000
    assert app.config["LOG_LEVEL"] == "WARNING"
    configured, given = make_url(app.config["SQLALCHEMY_DATABASE_URI"]), make_url(database_url)
    assert (configured.drivername, configured.database) == (given.drivername, given.database)


@pytest.mark.parametrize(("name", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "LOUD")])
def test_bad_log_settings_are_refused(name, value, database_url):
    with pytest.raises(ValueError, match=name):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "LOG_FILE": "", name: value})


def test_password_never_in_config_repr_or_logs(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DB_HOST", "127.0.0.1")
    monkeypatch.setenv("DB_PORT", "1")  # nothing listens: the request fails and is logged
    monkeypatch.setenv("DB_USER", "svc")
    monkeypatch.setenv("DB_PASSWORD", SECRET)
    log_file = tmp_path / "app.log"
    monkeypatch.setenv("LOG_FILE", str(log_file))
    app = create_app()

    with caplog.at_level(logging.DEBUG):
        response = app.test_client().get("/v1/get/messages/1")

    assert response.status_code == 503
    assert SECRET not in repr(app.config)
    assert SECRET not in str(app.config)
    assert SECRET not in repr(app.config["SQLALCHEMY_DATABASE_URI"])
    assert SECRET not in response.get_data(as_text=True)
    assert SECRET not in caplog.text
    assert SECRET not in log_file.read_text()
    # the password is still what the driver is given
    assert app.config["SQLALCHEMY_DATABASE_URI"].password == SECRET


def test_async_hooks_and_views_still_go_through_flasks_async_support():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "LOG_FILE": ""})

    async def coroutine_view() -> str:
        return "never awaited here"

    def plain_view() -> str:
        return "plain"

    # Without Flask's "async" extra, Flask refuses a coroutine function outright.
    with pytest.raises(RuntimeError, match="async"):
        app.ensure_sync(coroutine_view)
    assert app.ensure_sync(plain_view) is plain_view
    assert app.ensure_sync(app.make_response) == app.make_response


@pytest.mark.parametrize("name", ["AUTH_ENABLED", "INIT_DB_ON_START"])
@pytest.mark.parametrize(
    ("value", "enabled"),
    [("1", True), ("true", True), ("Yes", True), ("on", True), ("0", False), ("off", False)],
)
def test_every_boolean_setting_reads_the_same_words(name, value, enabled):
    assert settings_from_env({name: value})[name] is enabled


@pytest.mark.parametrize(
    ("text", "span"),
    [("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), (" 2w ", timedelta(weeks=2))],
)
def test_durations_are_a_number_and_a_unit(text, span):
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["90", "0d", "1.5d", "1y", "-5d"])
def test_durations_without_a_unit_or_above_zero_are_refused(text):
    with pytest.raises(ValueError, match="90d, 12h"):
        parse_duration(text)

"""config.py: settings read from an environment mapping, the database URL, engine options."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from messaging.config import (
    MYSQL_CHECK_TIMEOUT,
    MYSQL_READ_TIMEOUT,
    SQLITE_BUSY_TIMEOUT,
    ConfigError,
    database_url,
    engine_options,
    is_mysql,
    settings_from_env,
    uses_pymysql,
)


def test_defaults_without_any_variable():
    settings = settings_from_env({})
    assert settings["SQLALCHEMY_DATABASE_URI"] is None
    assert settings["MAX_CONTENT_LENGTH"] == 65536
    assert settings["LOG_LEVEL"] == "INFO"
    assert settings["LOG_FILE"] == "logs/app.log"
    assert settings["LOG_MAX_BYTES"] == 10 * 1024 * 1024
    assert settings["LOG_BACKUP_COUNT"] == 10
    assert settings["LOG_FORMAT"] == "text"


def test_db_variables_build_a_mysql_url_with_utf8mb4():
    url = database_url(
        {
            "DB_HOST": "db.internal",
            "DB_PORT": "3307",
            "DB_USER": "svc",
            "DB_PASSWORD": "p@ss:w/rd",
            "DB_NAME": "messages",
        }
    )
    assert url.drivername == "mysql+pymysql"
    assert (url.host, url.port, url.username, url.database) == (
        "db.internal",
        3307,
        "svc",
        "messages",
    )
    assert url.password == "p@ss:w/rd"
    assert url.query["charset"] == "utf8mb4"


def test_db_port_defaults_to_3306():
    assert database_url({"DB_HOST": "db"}).port == 3306


def test_database_url_wins_over_db_variables():
    url = database_url({"DATABASE_URL": "sqlite:////tmp/x.db", "DB_HOST": "db"})
    assert url.get_backend_name() == "sqlite"


def test_database_url_for_mysql_gets_utf8mb4_unless_given():
    assert database_url({"DATABASE_URL": "mysql+pymysql://u@h/d"}).query["charset"] == "utf8mb4"
    given = database_url({"DATABASE_URL": "mysql+pymysql://u@h/d?charset=latin1"})
    assert given.query["charset"] == "latin1"


@pytest.mark.parametrize(
    ("name", "value"),
    [("DB_PORT", "abc"), ("MAX_CONTENT_LENGTH", "lots"), ("LOG_MAX_BYTES", "-1")],
)
def test_bad_numbers_are_refused_with_the_variable_named(name, value):
    environ = {"DB_HOST": "db", name: value}
    with pytest.raises(ConfigError, match=name):
        settings_from_env(environ)


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        ("", False),
        ("false", False),
        ("0", False),
        ("off", False),
        ("true", True),
        ("1", True),
        ("YES", True),
        ("on", True),
    ],
)
def test_auth_enabled_setting(value, enabled):
    assert settings_from_env({"AUTH_ENABLED": value})["AUTH_ENABLED"] is enabled


def test_auth_enabled_rejects_other_values():
    with pytest.raises(ConfigError, match="AUTH_ENABLED"):
        settings_from_env({"AUTH_ENABLED": "maybe"})


def test_auth_is_off_by_default():
    assert settings_from_env({})["AUTH_ENABLED"] is False


def test_log_settings_are_normalised():
    settings = settings_from_env({"LOG_LEVEL": " warning ", "LOG_FORMAT": "JSON", "LOG_FILE": " "})
    assert settings["LOG_LEVEL"] == "WARNING"
    assert settings["LOG_FORMAT"] == "json"
    assert settings["LOG_FILE"] == ""


def test_blank_numbers_take_their_defaults_and_zero_is_allowed():
    settings = settings_from_env({"MAX_CONTENT_LENGTH": "  ", "LOG_BACKUP_COUNT": "0"})
    assert settings["MAX_CONTENT_LENGTH"] == 65536
    assert settings["LOG_BACKUP_COUNT"] == 0


def test_database_url_is_read_without_surrounding_spaces():
    assert database_url({"DATABASE_URL": "  sqlite:////tmp/x.db \n"}).database == "/tmp/x.db"


def test_blank_database_variables_mean_the_sqlite_default():
    assert database_url({"DATABASE_URL": " ", "DB_HOST": ""}) is None


@pytest.mark.parametrize(
    ("url", "mysql", "pymysql"),
    [
        ("mysql+pymysql://u@h/d", True, True),
        ("mariadb+pymysql://u@h/d", True, True),
        ("mysql+mysqldb://u@h/d", True, False),
        ("sqlite:///x.db", False, False),
        ("postgresql://u@h/d", False, False),
    ],
)
def test_backend_and_driver_are_told_apart(url, mysql, pymysql):
    assert is_mysql(make_url(url)) is mysql
    assert uses_pymysql(make_url(url)) is pymysql


def test_mysql_engines_ping_recycle_and_time_out():
    options = engine_options(make_url("mysql+pymysql://u@h/d"))
    assert options["pool_pre_ping"] is True
    assert options["pool_reset_on_return"] is None
    assert options["connect_args"]["read_timeout"] == MYSQL_CHECK_TIMEOUT
    other = engine_options(make_url("mysql+mysqldb://u@h/d"))
    assert other["pool_reset_on_return"] == "rollback"
    assert other["connect_args"]["read_timeout"] == MYSQL_READ_TIMEOUT


def test_sqlite_waits_for_a_busy_file_and_other_backends_get_defaults():
    sqlite = engine_options(make_url("sqlite:///x.db"))
    assert sqlite == {"hide_parameters": True, "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    assert engine_options(make_url("postgresql://u@h/d")) == {"hide_parameters": True}


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("0", 0), ("1", 1), ("15", 15)])
def test_db_sync_wait_is_unset_or_a_wsrep_sync_wait_mask(raw, expected):
    assert settings_from_env({"DB_SYNC_WAIT": raw})["DB_SYNC_WAIT"] == expected


@pytest.mark.parametrize("raw", ["16", "-1", "on", "1.5"])
def test_bad_db_sync_wait_is_refused_with_the_variable_named(raw):
    with pytest.raises(ConfigError, match="DB_SYNC_WAIT"):
        settings_from_env({"DB_SYNC_WAIT": raw})

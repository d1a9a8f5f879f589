"""Settings read from the environment; the only place the database URL is built."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import click
from sqlalchemy.engine import URL, make_url

DEFAULT_DB_PORT = 3306
DEFAULT_MAX_CONTENT_LENGTH = 64 * 1024
DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_LOG_BACKUP_COUNT = 10
SQLITE_FILENAME = "messaging.sqlite3"

# PyMySQL waits forever by default; a stalled database must not hold a worker.
MYSQL_CONNECT_TIMEOUT = 2
MYSQL_READ_TIMEOUT = 10
MYSQL_WRITE_TIMEOUT = 10
# How long a handshake or a pool pre-ping may wait for the server (messaging/connections.py):
# with the connect timeout, a vanished database gives a 503 within about 3 s.
MYSQL_CHECK_TIMEOUT = 1
SQLITE_BUSY_TIMEOUT = 15


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


def parse_bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """Every boolean setting, read one way: click's (true/false, 1/0, yes/no, on/off, t/f, y/n)."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return click.BOOL.convert(raw, None, None)
    except click.BadParameter:
        raise ConfigError(
            f"{name} must be true or false (also 1/0, yes/no, on/off), got {raw!r}"
        ) from None


DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
DURATION_PATTERN = re.compile(r"^\s*([0-9]{1,6})\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """Every span of time, read one way: a whole number and a unit, ``90d``, ``12h``, ``30s``.

    Units are s, m, h, d and w; zero is not a span. ``ValueError`` names the form otherwise.
    """
    match = DURATION_PATTERN.match(text)
    if not match or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not a duration like 90d, 12h, 30m or 2w")
    return timedelta(**{DURATION_UNITS[match[2]]: int(match[1])})


TRACES_EXPORTERS = ("otlp", "console")
OTLP_PROTOCOL = "http/protobuf"
OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
OTLP_PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")


def traces_exporter(environ: Mapping[str, str]) -> str | None:
    """Where traces go by OpenTelemetry's own variables: ``otlp``, ``console``, or None (off).

    On when ``OTEL_TRACES_EXPORTER`` names an exporter or an OTLP endpoint is set;
    off without either, with ``OTEL_TRACES_EXPORTER=none`` or ``OTEL_SDK_DISABLED=true``.
    """
    if parse_bool(environ, "OTEL_SDK_DISABLED", False):
        return None
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not exporter:
        endpoint_set = any(environ.get(name, "").strip() for name in OTLP_ENDPOINT_VARIABLES)
        exporter = "otlp" if endpoint_set else "none"
    if exporter == "none":
        return None
    if exporter not in TRACES_EXPORTERS:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER must be one of {', '.join(TRACES_EXPORTERS)} or none,"
            f" got {exporter!r}"
        )
    for name in OTLP_PROTOCOL_VARIABLES if exporter == "otlp" else ():
        protocol = environ.get(name, "").strip()
        if protocol and protocol != OTLP_PROTOCOL:
            raise ConfigError(
                f"{name} must be {OTLP_PROTOCOL} (the exporter installed), got {protocol!r}"
            )
    return exporter


def is_mysql(url: URL) -> bool:
    return url.get_backend_name() in ("mysql", "mariadb")


def uses_pymysql(url: URL) -> bool:
    """PyMySQL, whose read timeout messaging.connections shortens while a connection idles."""
    return is_mysql(url) and url.get_driver_name() == "pymysql"


def database_url(environ: Mapping[str, str]) -> URL | None:
    """The configured database, or None for the embedded SQLite default.

    ``DATABASE_URL`` wins over the ``DB_*`` variables. MySQL URLs always get
    ``charset=utf8mb4`` so that four-byte characters (emoji) survive.
    """
    if environ.get("DATABASE_URL", "").strip():
        url = make_url(environ["DATABASE_URL"].strip())
    elif environ.get("DB_HOST", "").strip():
        url = URL.create(
            "mysql+pymysql",
            username=environ.get("DB_USER") or None,
            password=environ.get("DB_PASSWORD") or None,
            host=environ["DB_HOST"].strip(),
            port=_int(environ, "DB_PORT", DEFAULT_DB_PORT),
            database=environ.get("DB_NAME") or None,
        )
    else:
        return None
    if is_mysql(url) and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


# SQLAlchemy quotes a failed statement's parameters (phone numbers, message text) in the
# exception's text, which then reaches logs: every engine keeps them out.
HIDDEN_PARAMETERS = {"hide_parameters": True}


def engine_options(url: URL) -> dict[str, Any]:
    """Connection pool and driver settings suited to the backend."""
    if is_mysql(url):
        return {
            **HIDDEN_PARAMETERS,
            "pool_pre_ping": True,
            # With PyMySQL, messaging.connections rolls back only connections that may hold
            # a transaction, instead of every connection after every commit.
            "pool_reset_on_return": None if uses_pymysql(url) else "rollback",
            "pool_recycle": 3600,
            "connect_args": {
                "connect_timeout": MYSQL_CONNECT_TIMEOUT,
                # With PyMySQL, raised to MYSQL_READ_TIMEOUT while a request holds the
                # connection; other drivers keep the patient timeout throughout.
                "read_timeout": MYSQL_CHECK_TIMEOUT if uses_pymysql(url) else MYSQL_READ_TIMEOUT,
                "write_timeout": MYSQL_WRITE_TIMEOUT,
            },
        }
    if url.get_backend_name() == "sqlite":
        return {**HIDDEN_PARAMETERS, "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    return dict(HIDDEN_PARAMETERS)


def _public_url(environ: Mapping[str, str]) -> str | None:
    raw = environ.get("PUBLIC_URL", "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"PUBLIC_URL must be an http(s) URL without query or fragment, got {raw!r}"
        )
    return raw.rstrip("/")


def _trusted_hosts(environ: Mapping[str, str]) -> list[str] | None:
    hosts = [host.strip() for host in environ.get("TRUSTED_HOSTS", "").split(",") if host.strip()]
    return hosts or None


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask config keys derived from the process environment."""
    environ = os.environ if environ is None else environ
    return {
        # A URL object, not a string: its repr masks the password.
        "SQLALCHEMY_DATABASE_URI": database_url(environ),
        "MAX_CONTENT_LENGTH": _int(environ, "MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH),
        "LOG_LEVEL": environ.get("LOG_LEVEL", "").strip().upper() or "INFO",
        "LOG_FILE": environ.get("LOG_FILE", "logs/app.log").strip(),
        "LOG_MAX_BYTES": _int(environ, "LOG_MAX_BYTES", DEFAULT_LOG_MAX_BYTES),
        "LOG_BACKUP_COUNT": _int(environ, "LOG_BACKUP_COUNT", DEFAULT_LOG_BACKUP_COUNT),
        "LOG_FORMAT": environ.get("LOG_FORMAT", "").strip().lower() or "text",
        # Where Link headers point: see messaging.pagination.link_origin.
        "PUBLIC_URL": _public_url(environ),
        "TRUSTED_HOSTS": _trusted_hosts(environ),
        # Off by default so the seed's clients, which send no key, keep working.
        "AUTH_ENABLED": parse_bool(environ, "AUTH_ENABLED", False),
        # Read by the container's entrypoint (init-db --on-start).
        "INIT_DB_ON_START": parse_bool(environ, "INIT_DB_ON_START", False),
        "TRACES_EXPORTER": traces_exporter(environ),
        "DB_SYNC_WAIT": sync_wait(environ),
    }


# wsrep_sync_wait is a bit mask of four kinds of statement (messaging.galera).
SYNC_WAIT_MAX = 15


def sync_wait(environ: Mapping[str, str]) -> int | None:
    """``DB_SYNC_WAIT``: None (unset: the Galera default, see messaging.galera), or 0 to 15."""
    if not environ.get("DB_SYNC_WAIT", "").strip():
        return None
    value = _int(environ, "DB_SYNC_WAIT", 0)
    if value > SYNC_WAIT_MAX:
        raise ConfigError(f"DB_SYNC_WAIT must be 0 to {SYNC_WAIT_MAX}, got {value}")
    return value

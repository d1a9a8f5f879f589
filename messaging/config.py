"""Settings read from the environment; the only place the database URL is built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

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


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


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
        "AUTH_ENABLED": _bool(environ, "AUTH_ENABLED", False),
    }

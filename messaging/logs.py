"""Log records: console and shared file handlers, UTC text or JSON lines, with request ids.

One setup serves every process: the application's (``configure_logging``), and
gunicorn's master, whose own lines (start, workers booting, errors) go through
the same handlers and format (``gunicorn.conf.py``). A CLI command logs to the
console only: it is not the service, and its lines do not belong in its file.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask
from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

from messaging.config import ConfigError
from messaging.request_log import current_request_id
from messaging.shared_log_file import SharedRotatingFileHandler

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s [%(request_id)s] %(message)s"
LOG_FORMATS = ("text", "json")
# JSON members in this order, then whatever a record carries as extra (the access line's fields).
JSON_FIELDS = ("asctime", "name", "levelname", "request_id", "message")
JSON_NAMES = {"asctime": "time", "name": "logger", "levelname": "level", "exc_info": "exception"}


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request it was logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Each handler runs its filters: the record is stamped by the first.
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


def utc_timestamp(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class UTCFormatter(logging.Formatter):
    """Times in UTC with milliseconds."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return utc_timestamp(record)


class JsonFormatter(LibraryJsonFormatter):
    """One JSON object per line (python-json-logger); a record's extra fields become members."""

    def __init__(self) -> None:
        super().__init__(list(JSON_FIELDS), rename_fields=JSON_NAMES, json_ensure_ascii=False)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return utc_timestamp(record)


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    return JsonFormatter() if log_format == "json" else UTCFormatter(TEXT_FORMAT)


def configure_process_logging(settings: Mapping[str, Any], *, to_file: bool = True) -> None:
    """Send every logger's records to the console and, unless ``LOG_FILE`` is empty, the file.

    ``settings`` are the ``LOG_*`` keys of ``settings_from_env``. Calling it again
    in the same process (a worker after the fork, tests) replaces, not adds, handlers.
    """
    level = logging.getLevelName(settings["LOG_LEVEL"])
    if not isinstance(level, int):
        raise ConfigError(f"LOG_LEVEL {settings['LOG_LEVEL']!r} is not a logging level")
    formatter = make_formatter(settings["LOG_FORMAT"])
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if to_file and settings["LOG_FILE"]:
        handlers.append(
            SharedRotatingFileHandler(
                settings["LOG_FILE"], settings["LOG_MAX_BYTES"], settings["LOG_BACKUP_COUNT"]
            )
        )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "messaging_owned", False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.messaging_owned = True
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    root.setLevel(level)


def building_for_a_command() -> bool:
    """True while the ``flask`` command line builds the application to run a command."""
    return click.get_current_context(silent=True) is not None


def configure_logging(app: Flask) -> None:
    """The application's logging: the service's file too, unless a CLI command builds it."""
    configure_process_logging(app.config, to_file=not building_for_a_command())

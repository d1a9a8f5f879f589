"""Log records: console and shared file handlers, UTC text or JSON lines, with request ids."""

from __future__ import annotations

import json
import logging
import sys
import time

from flask import Flask

from messaging.request_log import current_request_id
from messaging.shared_log_file import SharedRotatingFileHandler

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s [%(request_id)s] %(message)s"
LOG_FORMATS = ("text", "json")


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request it was logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Each handler runs its filters: the record is stamped by the first.
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class UTCFormatter(logging.Formatter):
    """Times in UTC with milliseconds."""

    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class JsonFormatter(UTCFormatter):
    """One JSON object per line; access lines carry their fields as members."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "logger": record.name,
            "level": record.levelname,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "http", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(app: Flask) -> None:
    """Send every logger's records to the console and, unless ``LOG_FILE`` is empty, the file."""
    config = app.config
    if config["LOG_FORMAT"] not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    level = logging.getLevelName(config["LOG_LEVEL"])
    if not isinstance(level, int):
        raise ValueError(f"LOG_LEVEL {config['LOG_LEVEL']!r} is not a logging level")

    formatter = JsonFormatter() if config["LOG_FORMAT"] == "json" else UTCFormatter(TEXT_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if config["LOG_FILE"]:
        handlers.append(
            SharedRotatingFileHandler(
                config["LOG_FILE"], config["LOG_MAX_BYTES"], config["LOG_BACKUP_COUNT"]
            )
        )
    root = logging.getLogger()
    # An application made again in the same process (tests) replaces, not adds, handlers.
    for old in [h for h in root.handlers if getattr(h, "messaging_owned", False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.messaging_owned = True
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    root.setLevel(level)

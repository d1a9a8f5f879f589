"""Logging: console and a size-rotated file shared by every worker, request ids, masking.

The standard ``RotatingFileHandler`` loses lines when several processes write
to one file: each rotates on its own and keeps writing to the renamed file.
``SharedRotatingFileHandler`` takes an ``flock`` around every write and
rotation, and reopens the file when another process has rotated it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_MAX_LENGTH = 128
REQUEST_ID_PATTERN = re.compile(rf"^[\x21-\x7e]{{1,{REQUEST_ID_MAX_LENGTH}}}$")
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s [%(request_id)s] %(message)s"
LOG_FORMATS = ("text", "json")
# RFC 3986 path characters other than "%": everything else in a logged path is percent-encoded.
PATH_SAFE_CHARACTERS = "/:@!$&'()*+,;=-._~"

# Where a formatter leaves its text on a record: (formatter, text).
FORMATTED_ATTRIBUTE = "messaging_formatted"

access_log = logging.getLogger("messaging.access")


def mask_number(number: str) -> str:
    """``+15551234567`` → ``+1555****567``: enough to tell numbers apart, not to dial one.

    At least four digits are always hidden; short numbers show only their end.
    """
    plus = "+" if number.startswith("+") else ""
    digits = number[len(plus) :]
    tail = 3 if len(digits) >= 7 else 2
    head = max(0, min(4, len(digits) - tail - 4))
    hidden = len(digits) - head - tail
    return plus + digits[:head] + "*" * hidden + digits[len(digits) - tail :]


def current_request_id() -> str:
    if has_request_context():
        return g.get("request_id", "-")
    return "-"


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request it was logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Each handler runs its filters: the record is stamped by the first.
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class UTCFormatter(logging.Formatter):
    """Times in UTC with milliseconds; each record formatted once for every handler."""

    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        # The console and the file share this formatter: the second asks for the same text.
        done = record.__dict__.get(FORMATTED_ATTRIBUTE)
        if done is not None and done[0] is self:
            return done[1]
        text = self.render(record)
        setattr(record, FORMATTED_ATTRIBUTE, (self, text))
        return text

    def render(self, record: logging.LogRecord) -> str:
        return super().format(record)


class JsonFormatter(UTCFormatter):
    """One JSON object per line; access lines carry their fields as members."""

    def render(self, record: logging.LogRecord) -> str:
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


class SharedRotatingFileHandler(logging.Handler):
    """Append-only log file rotated by size, safe with many processes writing at once.

    Each record is one ``write`` to an ``O_APPEND`` descriptor under an exclusive
    ``flock`` on a side lock file, so lines never interleave; rotation happens
    under the same lock, and a process notices a rotation done by another one
    because the path no longer names the file it holds open.
    """

    def __init__(self, filename: str | os.PathLike[str], max_bytes: int, backup_count: int):
        super().__init__()
        self.path = Path(filename).resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self._pid = -1
        self._fd = -1
        self._lock_fd = -1
        self._inode = (-1, -1)

    def _open(self) -> None:
        # Descriptors inherited across fork would share one flock: reopen per process.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            self._open_file()

    def _open_file(self) -> os.stat_result:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        opened = os.fstat(self._fd)
        self._inode = (opened.st_dev, opened.st_ino)
        return opened

    def _reopen(self) -> os.stat_result:
        os.close(self._fd)
        return self._open_file()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _rotate(self) -> None:
        if self.backup_count > 0:
            for index in range(self.backup_count - 1, 0, -1):
                older = Path(f"{self.path}.{index}")
                if older.exists():
                    older.replace(f"{self.path}.{index + 1}")
            self.path.replace(f"{self.path}.1")
        else:
            os.truncate(self.path, 0)
        self._reopen()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = (self.format(record) + "\n").encode("utf-8", "replace")
            self._open()
            with self._exclusive():
                # What the path names now: the file this process holds open, unless
                # another one rotated it (or it was removed) since the last write.
                try:
                    current = os.stat(self.path)
                except FileNotFoundError:
                    current = None
                if current is None or (current.st_dev, current.st_ino) != self._inode:
                    current = self._reopen()
                if (
                    self.max_bytes
                    and current.st_size
                    and current.st_size + len(line) > self.max_bytes
                ):
                    self._rotate()
                os.write(self._fd, line)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if self._pid == os.getpid():
            os.close(self._fd)
            os.close(self._lock_fd)
            self._pid = -1
        super().close()


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


def _start_request() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if REQUEST_ID_PATTERN.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def loggable_path(path: str) -> str:
    """The decoded request path percent-encoded again, so it is one printable word.

    A client controls the path: ``%0A`` in it would otherwise end the access line
    and let the rest pose as a line of its own.
    """
    return quote(path, safe=PATH_SAFE_CHARACTERS)


def _finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = current_request_id()
    started = g.get("request_started")
    duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    if not access_log.isEnabledFor(logging.INFO):
        return response
    path = loggable_path(request.path)
    # The one line that names the path; never the query string, which holds numbers.
    access_log.info(
        "%s %s %s %.1fms",
        request.method,
        path,
        response.status_code,
        duration_ms,
        extra={
            "http": {
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": round(duration_ms, 1),
            }
        },
    )
    return response


def register_request_logging(app: Flask) -> None:
    """Give every request an id (``X-Request-ID``, echoed back) and one access line."""
    app.before_request(_start_request)
    app.after_request(_finish_request)

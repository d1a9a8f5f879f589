"""A size-rotated log file that many processes append to at once without losing a line.

The standard ``RotatingFileHandler`` loses lines when several processes write
to one file: each rotates on its own and keeps writing to the renamed file.
``concurrent-log-handler`` takes a file lock around every write and rotation
and reopens the file when another process has rotated it. One part is ours:
the library rotates once a file has *reached* ``maxBytes``, so every file
grows past the limit by up to a line, which fails
``tests/test_logs.py::test_file_rotates_by_size_keeping_backup_count`` and
``test_processes_sharing_a_file_lose_duplicate_and_interleave_no_line`` (both
hold each file to ``LOG_MAX_BYTES``). ``shouldRollover``, the public hook of
the standard rotating handlers, counts the line about to be written as well.
The library's ``emit`` formats a record before it takes the file lock and asks
``shouldRollover`` under it: ``format`` measures the line as it makes it, so no
process waits on the lock while another formats a record a second time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from concurrent_log_handler import ConcurrentRotatingFileHandler

ENCODING = "utf-8"


class LogFileError(OSError):
    """``LOG_FILE`` names a file this process cannot create or write."""


def ensure_log_file_writable(path: str | os.PathLike[str]) -> None:
    """Create the log file and its directory, or raise ``LogFileError``.

    Checked once at start: otherwise every record would fail on its own, each with a
    traceback on the console, and no file log would be written at all.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as error:
        raise LogFileError(
            f"LOG_FILE {str(path)!r} cannot be written: {error.filename}: {error.strerror}"
        ) from None


class SharedRotatingFileHandler(ConcurrentRotatingFileHandler):
    """Append-only log file rotated by size, safe with many processes writing at once."""

    def __init__(self, filename: str | os.PathLike[str], max_bytes: int, backup_count: int):
        path = Path(filename).resolve()
        ensure_log_file_writable(path)
        super().__init__(
            str(path),
            maxBytes=max_bytes,
            backupCount=backup_count,
            encoding=ENCODING,
            unicode_error_policy="replace",
        )
        # Bytes of the line being emitted, terminator included: set by format(), read by
        # shouldRollover() under the file lock (emit runs under this handler's own lock).
        self.line_bytes = 0

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        self.line_bytes = len((line + self.terminator).encode(ENCODING, "replace"))
        return line

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802
        # Called under the lock, after a rotation by another process has been noticed.
        if self.maxBytes <= 0:
            return False
        try:
            size = os.path.getsize(self.baseFilename)
        except FileNotFoundError:
            return False
        return size > 0 and size + self.line_bytes > self.maxBytes

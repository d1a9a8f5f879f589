"""A size-rotated log file that many processes append to at once without losing a line.

The standard ``RotatingFileHandler`` loses lines when several processes write
to one file: each rotates on its own and keeps writing to the renamed file.
``SharedRotatingFileHandler`` takes an ``flock`` around every write and
rotation, and reopens the file when another process has rotated it.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LogFileError(OSError):
    """``LOG_FILE`` names a file this process cannot create or write."""


def ensure_log_file_writable(path: str | os.PathLike[str]) -> None:
    """Create the log file, its lock file and their directory, or raise ``LogFileError``.

    Checked once at start: otherwise every record would fail on its own, each with a
    traceback on the console, and no file log would be written at all.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for name in (target, Path(f"{target}.lock")):
            os.close(os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as error:
        raise LogFileError(
            f"LOG_FILE {str(path)!r} cannot be written: {error.filename}: {error.strerror}"
        ) from None


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
        ensure_log_file_writable(self.path)
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

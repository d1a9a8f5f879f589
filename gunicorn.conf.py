"""gunicorn settings: the one place the server is configured.

Read by the master before it forks any worker. Everything here comes from the
environment (``PORT``, ``WEB_CONCURRENCY``, ``PROMETHEUS_MULTIPROC_DIR``), so the
same file serves ``make run``, the container and the tests.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

# prometheus_client picks how it stores values when it is first imported: the
# directory must be in the environment before any worker imports it, so it is
# set here, in the master, before the fork. Without one we make a private one.
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_DIR_VARIABLE):
    metrics_directory_is_ours = False
else:
    os.environ[MULTIPROC_DIR_VARIABLE] = tempfile.mkdtemp(prefix="messaging-metrics-")
    metrics_directory_is_ours = True
metrics_directory = Path(os.environ[MULTIPROC_DIR_VARIABLE])

bind = f"0.0.0.0:{os.environ.get('PORT') or '8080'}"
# The CPUs this process may run on (a cpuset limits them; a CPU quota does not show).
usable_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
workers = int(os.environ.get("WEB_CONCURRENCY") or (usable_cpus or 1) * 2 + 1)

# Worker class by measurement (2 cores shared with the load generator, MariaDB,
# 4 workers, 16 clients alternating creates and 20-row page reads, 10 s runs,
# two rounds each):
#                        new connection per request   keep-alive clients
#   sync                 708, 678 requests/s          796, 829 requests/s
#   gthread, 4 threads   409, 470 requests/s          632, 378 requests/s
# A request here is short and mostly Python work, so threads only add GIL
# contention. Put a buffering proxy (or a load balancer) in front for slow clients.
worker_class = "sync"

# A worker silent for this long is killed and replaced. The database timeouts
# (connect 2 s, handshake and ping 1 s, queries 10 s) are well inside it, so a
# stalled database gives 503s, not killed workers.
timeout = 30
# SIGTERM: stop accepting, let requests in flight finish for up to this long.
graceful_timeout = 20
# Each worker builds the application, and so its own database pool, after the
# fork: no connection is ever shared between processes.
preload_app = False
# The heartbeat file is touched constantly; on a container's overlay disk that
# can block a worker, so it goes to memory where memory is offered.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The control socket defaults to one path per user: two servers on one host
# (tests, several containers sharing a home) would fight over it.
control_socket_disable = True
# The application writes one access line per request itself (messaging.request_log).
accesslog = None

# The request line: gunicorn's default (4,094 bytes) and even its largest bounded value
# (8,190) are shorter than a search with 100 values in each of its lists (about 15,000
# bytes with 15-digit numbers, repeated parameter names or percent-encoded separators),
# so gunicorn sets no limit of its own. The front (nginx) bounds request lines and headers
# and answers what is over them; gunicorn is not meant to face clients directly.
limit_request_line = 0
# Headers keep gunicorn's bounds: 100 fields of at most 8,190 bytes each.
limit_request_fields = 100
limit_request_field_size = 8190

# A request target in gunicorn's own error lines (a request line it could not parse, a
# request whose handling failed) would carry its query string, which holds phone numbers.
QUERY_STRING = re.compile(r"(/[^\s?'\"]*)\?[^\s'\"]*")
HIDDEN_QUERY = r"\1?(query hidden)"


class QueryStringFilter(logging.Filter):
    """Replace every query string in a record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = QUERY_STRING.sub(HIDDEN_QUERY, message), ()
        return True


# Imported here, after the environment above is set: the package imports prometheus_client.
from messaging.auth import warn_when_disabled  # noqa: E402
from messaging.config import ConfigError, settings_from_env  # noqa: E402
from messaging.logs import configure_process_logging  # noqa: E402
from messaging.shared_log_file import LogFileError  # noqa: E402


class ServiceLogger(Logger):
    """gunicorn's own lines (start, workers booting, errors) in the service's format and files,
    with query strings kept out of them.

    The master sets up the service's handlers; each worker inherits them across the
    fork and replaces them when it builds the application.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        try:
            configure_process_logging(settings_from_env())
        except (ConfigError, LogFileError) as error:
            # gunicorn prints a RuntimeError as one line and exits with status 1.
            raise RuntimeError(str(error)) from None
        for handler in list(self.error_log.handlers):
            self.error_log.removeHandler(handler)
        self.error_log.propagate = True
        if not any(isinstance(f, QueryStringFilter) for f in self.error_log.filters):
            self.error_log.addFilter(QueryStringFilter())


logger_class = ServiceLogger


def on_starting(server: Any) -> None:
    """Refuse to start on settings the workers could not use; empty the metrics directory.

    Checked here, once, in the master: a worker failing on them prints a traceback, and
    the master starts another in its place.
    """
    from messaging.shared_log_file import ensure_log_file_writable

    try:
        settings = settings_from_env()
        if settings["LOG_FILE"]:
            ensure_log_file_writable(settings["LOG_FILE"])
    except (ConfigError, LogFileError) as error:
        # gunicorn prints a RuntimeError as one line and exits with status 1.
        raise RuntimeError(str(error)) from None
    # Files of an earlier run would corrupt the sums.
    metrics_directory.mkdir(parents=True, exist_ok=True)
    for stale in metrics_directory.glob("*.db"):
        stale.unlink()
    # Once per server, not once per worker.
    warn_when_disabled(settings)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges, so they do not linger in the sums."""
    # Imported here, in the master, after the environment above is set.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    if metrics_directory_is_ours:
        shutil.rmtree(metrics_directory, ignore_errors=True)

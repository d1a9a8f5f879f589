"""CPU per request through the whole WSGI application, in one process, without a server.

    DATABASE_URL=mysql+pymysql://root@127.0.0.1/messaging_ab .venv/bin/python -m bench.in_process

Calls the application object the way gunicorn does (a WSGI environ per request, the
response read to its end) for a create and for an account's first page of 100, and prints
the process CPU time per request: the best and the median of five rounds of 200. No
network, no other process: it compares two checkouts' Python cost on one machine far more
steadily than a run under load. The database must be migrated (``init-db``) and may be
empty; the run stores a few hundred messages in account 1.

To compare with an older commit, check it out elsewhere, migrate a database of its own
with its ``init-db``, and run this file there as a script, so that the older package is
the one imported:

    cd ../old && PYTHONPATH=. DATABASE_URL=… ../main/.venv/bin/python ../main/bench/in_process.py

``--count N OPERATION`` (``create`` or ``list``) warms up, then makes exactly N requests of
one kind and prints nothing: the run an instruction counter measures (``bench/instructions.py``).
``LOG_FILE``, when set, is the log file the application writes, as it does under gunicorn.
"""

from __future__ import annotations

import argparse
import atexit
import io
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable

from messaging import create_app

ROUNDS = 5
REQUESTS_PER_ROUND = 200
WARMUP_REQUESTS = 120
LIST_WARMUP_REQUESTS = 30
# Where the console's lines go: opened once, for the life of the process.
NOWHERE = open(os.devnull, "w")  # noqa: SIM115
atexit.register(NOWHERE.close)
BODY = json.dumps(
    {
        "account_id": 1,
        "sender_number": "+15551230001",
        "receiver_number": "+15559870001",
        "message_text": "hello",
    }
).encode()


def environ(method: str, path: str, body: bytes = b"") -> dict[str, object]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost:8080",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def application_requests() -> dict[str, Callable[[], None]]:
    """The application, built as a worker builds it, and a call of each measured request."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"],
            "LOG_FILE": os.environ.get("LOG_FILE", ""),
        }
    )
    # The console line is formatted as in production and written nowhere.
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            handler.setStream(NOWHERE)

    def request(method: str, path: str, body: bytes = b"") -> Callable[[], None]:
        def call() -> None:
            statuses: list[str] = []
            chunks = app(environ(method, path, body), lambda status, *_: statuses.append(status))
            b"".join(chunks)
            if not statuses[0].startswith("200"):
                raise SystemExit(f"{method} {path} answered {statuses[0]}")

        return call

    calls = {"create": request("POST", "/v1/create", BODY)}
    for _ in range(WARMUP_REQUESTS):
        calls["create"]()
    calls["list"] = request("GET", "/v1/get/messages/1")
    for _ in range(LIST_WARMUP_REQUESTS):
        calls["list"]()
    return calls


def main(arguments: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, help="make exactly this many requests, unmeasured")
    parser.add_argument("operation", nargs="?", choices=("create", "list"), default="create")
    options = parser.parse_args(arguments)
    calls = application_requests()
    if options.count is not None:
        call = calls[options.operation]
        for _ in range(options.count):
            call()
        return 0
    for name, label in (("create", "create"), ("list", "list 100")):
        call = calls[name]
        per_request = []
        for _ in range(ROUNDS):
            started = time.process_time()
            for _ in range(REQUESTS_PER_ROUND):
                call()
            per_request.append((time.process_time() - started) / REQUESTS_PER_ROUND * 1000)
        print(
            f"{label:9} CPU ms/request: best {min(per_request):.3f},"
            f" median {statistics.median(per_request):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

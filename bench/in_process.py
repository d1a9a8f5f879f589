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
"""

from __future__ import annotations

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


def main() -> int:
    app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"], "LOG_FILE": ""})
    # The access line is formatted as in production and written nowhere.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115

    def request(method: str, path: str, body: bytes = b"") -> Callable[[], None]:
        def call() -> None:
            statuses: list[str] = []
            chunks = app(environ(method, path, body), lambda status, *_: statuses.append(status))
            b"".join(chunks)
            if not statuses[0].startswith("200"):
                raise SystemExit(f"{method} {path} answered {statuses[0]}")

        return call

    create = request("POST", "/v1/create", BODY)
    for _ in range(WARMUP_REQUESTS):
        create()
    for name, call in (("create", create), ("list 100", request("GET", "/v1/get/messages/1"))):
        for _ in range(30):
            call()
        per_request = []
        for _ in range(ROUNDS):
            started = time.process_time()
            for _ in range(REQUESTS_PER_ROUND):
                call()
            per_request.append((time.process_time() - started) / REQUESTS_PER_ROUND * 1000)
        print(
            f"{name:9} CPU ms/request: best {min(per_request):.3f},"
            f" median {statistics.median(per_request):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

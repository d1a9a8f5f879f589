"""Each request's id (taken from ``X-Request-ID`` or made, and echoed back) and its access line."""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import quote

from flask import Flask, Response, g, has_request_context, request

from messaging.protocol import PATH_SAFE_CHARACTERS, REQUEST_ID_HEADER
from messaging.tracing import current_trace_id

REQUEST_ID_MAX_LENGTH = 128
REQUEST_ID_PATTERN = re.compile(rf"^[\x21-\x7e]{{1,{REQUEST_ID_MAX_LENGTH}}}$")
# Printable ASCII but for '"', '%' and '\\': a logged user agent stays one quoted word.
USER_AGENT_SAFE_CHARACTERS = "".join(
    chr(code) for code in range(0x20, 0x7F) if chr(code) not in '"%\\'
)
USER_AGENT_MAX_LENGTH = 200

access_log = logging.getLogger("messaging.access")


def current_request_id() -> str:
    if has_request_context():
        return g.get("request_id", "-")
    return "-"


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


def loggable_user_agent(user_agent: str) -> str:
    """The client's ``User-Agent``, shortened and percent-encoded where it could break a line."""
    return quote(user_agent[:USER_AGENT_MAX_LENGTH], safe=USER_AGENT_SAFE_CHARACTERS)


def note_messages_stored(count: int) -> None:
    """Have this request's access line say how many messages it stored (a batch create)."""
    g.messages_stored = count


def _finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
    started = g.get("request_started")
    duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    if not access_log.isEnabledFor(logging.INFO):
        return response
    path = loggable_path(request.path)
    client = request.remote_addr or "-"
    user_agent = loggable_user_agent(request.headers.get("User-Agent", ""))
    fields = {
        "method": request.method,
        "path": path,
        "status": response.status_code,
        "duration_ms": round(duration_ms, 1),
        "client": client,
        "user_agent": user_agent,
    }
    line = '%s %s %s %.1fms %s "%s"'
    arguments: list[object] = [
        request.method,
        path,
        response.status_code,
        duration_ms,
        client,
        user_agent,
    ]
    stored = g.get("messages_stored")
    if stored is not None:
        line += " stored=%d"
        arguments.append(stored)
        fields["stored"] = stored
    trace_id = current_trace_id()
    if trace_id:
        line += " trace=%s"
        arguments.append(trace_id)
        fields["trace_id"] = trace_id
    # The one line that names the path; never the query string, which holds numbers and words.
    access_log.info(line, *arguments, extra=fields)
    return response


def register_request_logging(app: Flask) -> None:
    """Give every request an id (``X-Request-ID``, echoed back) and one access line."""
    app.before_request(_start_request)
    app.after_request(_finish_request)

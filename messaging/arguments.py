"""How request bodies and query strings are read before the schemas validate them.

Rules the API promises beyond the schemas: a body that is not valid JSON is a
422 like any other validation failure (FastAPI clients expect that); a body
with a non-JSON ``Content-Type`` is a 415; a request with no ``Content-Type``
is read as JSON, as the service this one replaces did; unknown query
parameters are rejected rather than silently ignored, so a misspelt filter
never widens a search.

The body is read whole or not at all: a chunked body longer than
``MAX_CONTENT_LENGTH`` is a 413 like one with a ``Content-Length`` (Werkzeug
stops reading it at the limit without a word), and one whose chunked framing
is broken is a 400. JSON that the standard library cannot turn into Python
values (nesting deeper than the recursion limit, integers of more than 4,300
digits) or whose object keys hold a lone surrogate (not Unicode, so not
writable back in an error body) is invalid JSON.
"""

from __future__ import annotations

import json
import logging
from typing import Any, NoReturn

import flask
import marshmallow as ma
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from messaging.protocol import NOT_JSON_DETAIL

INVALID_JSON = {"json": {"_schema": ["Invalid JSON body."]}}
# Only a JSON escape can make a lone surrogate: raw UTF-8 holding one does not decode.
UNICODE_ESCAPE = b"\\u"

log = logging.getLogger(__name__)


def read_body(req: flask.Request) -> bytes:
    """The request body, whole; 413 when longer than ``MAX_CONTENT_LENGTH``, however sent."""
    try:
        body = req.get_data(cache=True)
        limit = req.max_content_length
        if (
            req.content_length is None
            and limit is not None
            and len(body) >= limit
            and req.environ["wsgi.input"].read(1)
        ):
            raise RequestEntityTooLarge()
    except HTTPException:
        raise
    except Exception as error:  # the server's input stream: whatever it raises, the body is bad
        log.info("request body unreadable: %s", type(error).__name__)
        abort(400, message="The request body could not be read: its chunked framing is broken.")
    return body


def has_key_with_lone_surrogate(value: Any) -> bool:
    """Whether an object in a parsed JSON value has a key that is not valid Unicode.

    Keys are what an error body quotes back (``Unknown field.``); string values meet
    their field's own validation, which names the field.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if any(not key.isascii() and not _encodes_as_utf8(key) for key in item):
                return True
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _encodes_as_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_json_body(body: bytes) -> Any:
    """The body as a JSON value; a 422 for anything that is not valid, storable JSON."""
    try:
        value = core.parse_json(body)
    except json.JSONDecodeError:
        raise  # webargs reads an empty body as missing and anything else as invalid
    except (RecursionError, ValueError):
        abort(422, messages=INVALID_JSON)
    if UNICODE_ESCAPE in body and has_key_with_lone_surrogate(value):
        abort(422, messages=INVALID_JSON)
    return value


class StrictParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def _raw_load_json(self, req: flask.Request) -> Any:
        if req.mimetype and not core.is_json(req.mimetype):
            abort(415, message=NOT_JSON_DETAIL)
        return parse_json_body(read_body(req))

    def _handle_invalid_json_error(
        self,
        error: json.JSONDecodeError | UnicodeDecodeError,
        req: flask.Request,
        *args: Any,
        **kwargs: Any,
    ) -> NoReturn:
        abort(422, messages=INVALID_JSON)


parser = StrictParser()

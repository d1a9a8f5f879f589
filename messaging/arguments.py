"""How request bodies and query strings are read before the schemas validate them.

Rules the API promises beyond the schemas: a body that is not valid JSON is a
422 like any other validation failure (FastAPI clients expect that); a body
with a non-JSON ``Content-Type`` is a 415; a request with no ``Content-Type``
is read as JSON, as the service this one replaces did; unknown query
parameters are rejected rather than silently ignored, so a misspelt filter
never widens a search.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import flask
import marshmallow as ma
from flask_smorest import abort
from webargs import core
from webargs.flaskparser import FlaskParser

from messaging.protocol import NOT_JSON_DETAIL


class StrictParser(FlaskParser):
    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

    def _raw_load_json(self, req: flask.Request) -> Any:
        if req.mimetype and not core.is_json(req.mimetype):
            abort(415, message=NOT_JSON_DETAIL)
        return core.parse_json(req.get_data(cache=True))

    def _handle_invalid_json_error(
        self,
        error: json.JSONDecodeError | UnicodeDecodeError,
        req: flask.Request,
        *args: Any,
        **kwargs: Any,
    ) -> NoReturn:
        abort(422, messages={"json": {"_schema": ["Invalid JSON body."]}})


parser = StrictParser()

"""Keyset pagination: the opaque cursor and the RFC 8288 ``Link`` header.

A page ends at the internal ``id`` of its last row; the next page asks for rows
with a smaller ``id``. The cursor is that id, encoded so clients treat it as
opaque. Every list is served by an index ending in ``id``, so the thousandth
page costs what the first one does, and rows inserted meanwhile never shift it.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote, urlencode

from flask import current_app, request

from messaging.limits import ID_MAX
from messaging.protocol import LINK_HEADER, PATH_SAFE_CHARACTERS

CURSOR_PREFIX = "id:"


class InvalidCursorError(ValueError):
    """The cursor was not made by this service."""


def encode_cursor(last_id: int) -> str:
    raw = f"{CURSOR_PREFIX}{last_id}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(token: str) -> int:
    """The id the page before ended at."""
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (UnicodeError, binascii.Error, ValueError):
        raise InvalidCursorError(token) from None
    prefix, _, number = raw.partition(":")
    if f"{prefix}:" != CURSOR_PREFIX or not number.isdigit() or len(number) > 19:
        raise InvalidCursorError(token)
    if int(number) > ID_MAX:
        raise InvalidCursorError(token)
    return int(number)


def link_origin() -> str:
    """What a ``Link`` URL starts with; never a ``Host`` header nobody vouched for.

    ``PUBLIC_URL`` when configured; else the request's own scheme and host when
    ``TRUSTED_HOSTS`` is configured (Flask then refuses any other host with a 400);
    else nothing, and the link is a relative reference (RFC 8288 allows one), which
    a client resolves against the URL it asked.
    """
    config = current_app.config
    if config["PUBLIC_URL"]:
        return config["PUBLIC_URL"]
    if config["TRUSTED_HOSTS"]:
        return f"{request.scheme}://{request.host}{request.root_path}"
    return request.root_path


def next_page_link(cursor: str) -> str:
    """``Link`` header value: this request's URL with ``cursor`` replaced."""
    args = request.args.copy()
    args["cursor"] = cursor
    query = urlencode(list(args.items(multi=True)))
    path = quote(request.path, safe=PATH_SAFE_CHARACTERS)
    return f'<{link_origin()}{path}?{query}>; rel="next"'


def next_page_headers(next_before: int | None) -> dict[str, str]:
    """The ``Link`` header to the page that starts below ``next_before``; none after the last."""
    if next_before is None:
        return {}
    return {LINK_HEADER: next_page_link(encode_cursor(next_before))}

"""Who a request acts for: the bearer-token check of the ``/v1`` routes and what a key may see.

With ``AUTH_ENABLED`` every ``/v1`` route needs ``Authorization: Bearer <token>``; a
key acts for one account, or for all (admin). The keys themselves: ``api_keys.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NoReturn

from flask import current_app, g, request
from flask_smorest import abort

from messaging.api_keys import Caller, find_caller
from messaging.protocol import (
    BEARER_SCHEME,
    FOREIGN_ACCOUNT_DETAIL,
    INVALID_API_KEY_DETAIL,
    MISSING_API_KEY_DETAIL,
    WWW_AUTHENTICATE_HEADER,
)

REALM = "messaging"

log = logging.getLogger(__name__)


def unauthorized(detail: str, error: str | None = None) -> NoReturn:
    challenge = f'{BEARER_SCHEME} realm="{REALM}"'
    if error:
        challenge += f', error="{error}"'
    abort(401, message=detail, headers={WWW_AUTHENTICATE_HEADER: challenge})


def require_api_key() -> None:
    """``before_request`` of the ``/v1`` routes: find the caller, or answer 401."""
    if not current_app.config["AUTH_ENABLED"]:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER_SCHEME.lower() or not token:
        unauthorized(MISSING_API_KEY_DETAIL)
    caller = find_caller(token)
    if caller is None:
        unauthorized(INVALID_API_KEY_DETAIL, error="invalid_token")
    g.caller = caller


def caller_accounts() -> list[int] | None:
    """The accounts this request may see: None for every account (auth off, or an admin key)."""
    caller: Caller | None = g.get("caller")
    if caller is None or caller.account_id is None:
        return None
    return [caller.account_id]


def ensure_may_act_for(account_id: int) -> None:
    """A 403 unless the caller's key covers ``account_id``."""
    accounts = caller_accounts()
    if accounts is not None and account_id not in accounts:
        abort(403, message=FOREIGN_ACCOUNT_DETAIL)


def confine(requested: list[int] | None) -> list[int] | None:
    """The account filter of a list or search once the caller's scope applies to it.

    None means no account filter; an empty list means nothing is visible.
    """
    accounts = caller_accounts()
    if accounts is None:
        return requested
    if requested is None:
        return accounts
    return [account for account in requested if account in accounts]


def warn_when_disabled(settings: Mapping[str, Any]) -> None:
    """Say once, when the server starts, that every /v1 route is open (gunicorn.conf.py)."""
    if not settings["AUTH_ENABLED"]:
        log.warning(
            "AUTH_ENABLED is off: every /v1 route is open to anyone who can reach the service;"
            " set AUTH_ENABLED=true and create keys with 'flask --app messaging api-key create'"
        )

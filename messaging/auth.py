"""API keys: bearer tokens that let a caller act for one account, or for all (admin).

With ``AUTH_ENABLED`` every ``/v1`` route needs ``Authorization: Bearer <token>``.
Only a SHA-256 hash of each token is stored, so a copy of the database holds no
usable key; a token is shown once, when it is made. This module owns the
``api_keys`` queries as ``store.py`` owns the messages ones.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from flask import Flask, current_app, g, request
from flask_smorest import abort
from sqlalchemy import select, update

from messaging.extensions import db
from messaging.models import ApiKey
from messaging.store import utc_now

TOKEN_PREFIX = "msk_"
TOKEN_BYTES = 32
BEARER_SCHEME = "Bearer"
REALM = "messaging"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """Who a request acts for: one account, or every account (``account_id`` None)."""

    key_id: int
    account_id: int | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_api_key(account_id: int | None) -> tuple[ApiKey, str]:
    """A new key for ``account_id`` (None: admin) and its token, which is not kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    key = ApiKey(token_hash=hash_token(token), account_id=account_id, created_at=utc_now())
    db.session.add(key)
    db.session.commit()
    return key, token


def list_api_keys() -> Sequence[ApiKey]:
    return db.session.scalars(select(ApiKey).order_by(ApiKey.id)).all()


def revoke_api_key(key_id: int) -> ApiKey | None:
    """Revoke a key for good; None when there is no such key. Revoking twice changes nothing."""
    db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    db.session.commit()
    return db.session.get(ApiKey, key_id)


def find_caller(token: str) -> Caller | None:
    """The caller a token belongs to, or None when it is unknown or revoked."""
    token_hash = hash_token(token)
    key = db.session.scalars(
        select(ApiKey).where(ApiKey.token_hash == token_hash, ApiKey.revoked_at.is_(None))
    ).one_or_none()
    # The index lookup finds the row by hash; the final word is a constant-time comparison.
    if key is None or not hmac.compare_digest(key.token_hash, token_hash):
        return None
    return Caller(key_id=key.id, account_id=key.account_id)


def unauthorized(detail: str, error: str | None = None) -> NoReturn:
    challenge = f'{BEARER_SCHEME} realm="{REALM}"'
    if error:
        challenge += f', error="{error}"'
    abort(401, message=detail, headers={"WWW-Authenticate": challenge})


def require_api_key() -> None:
    """``before_request`` of the ``/v1`` routes: find the caller, or answer 401."""
    if not current_app.config["AUTH_ENABLED"]:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER_SCHEME.lower() or not token:
        unauthorized("Send an API key as Authorization: Bearer <token>.")
    caller = find_caller(token)
    if caller is None:
        unauthorized("The API key is unknown or revoked.", error="invalid_token")
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
        abort(403, message="This API key cannot act for that account.")


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


def warn_when_disabled(app: Flask) -> None:
    if not app.config["AUTH_ENABLED"]:
        log.warning(
            "AUTH_ENABLED is off: every /v1 route is open to anyone who can reach the service;"
            " set AUTH_ENABLED=true and create keys with 'flask --app messaging api-key create'"
        )

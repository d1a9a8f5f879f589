"""API keys: tokens, the SHA-256 hashes stored in their place, and the ``api_keys`` queries.

Only a hash of each token is stored, so a copy of the database holds no usable key; a
token is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from messaging.clock import utc_now
from messaging.connections import current_connection
from messaging.extensions import db
from messaging.models import ApiKey

TOKEN_PREFIX = "msk_"
TOKEN_BYTES = 32


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
    key = ApiKey(token_hash=hash_token(token), account_id=account_id)
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
    key = (
        current_connection()
        .execute(
            select(ApiKey.id, ApiKey.account_id, ApiKey.token_hash).where(
                ApiKey.token_hash == token_hash, ApiKey.revoked_at.is_(None)
            )
        )
        .one_or_none()
    )
    # The index lookup finds the row by hash; the final word is a constant-time comparison.
    if key is None or not hmac.compare_digest(key.token_hash, token_hash):
        return None
    return Caller(key_id=key.id, account_id=key.account_id)

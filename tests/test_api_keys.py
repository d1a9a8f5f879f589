"""api_keys.py through the api-key CLI: tokens shown once, only their hashes stored."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from messaging.extensions import db
from messaging.models import ApiKey


def test_create_prints_a_token_once_and_stores_only_its_hash(app, runner):
    result = runner.invoke(args=["api-key", "create", "--account-id", "42"])
    assert result.exit_code == 0, result.output
    assert "for account 42" in result.output
    token = result.output.strip().splitlines()[-1]
    assert len(token) >= 40
    with app.app_context():
        key = db.session.scalars(select(ApiKey)).one()
        stored = [str(getattr(key, column.key)) for column in ApiKey.__table__.columns]
    assert key.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert key.account_id == 42
    assert not any(token in value for value in stored)

    listed = runner.invoke(args=["api-key", "list"])
    assert listed.exit_code == 0
    assert token not in listed.output
    assert "account 42" in listed.output and "active" in listed.output


def test_each_key_gets_its_own_token(make_key):
    assert len({make_key("--account-id", "1") for _ in range(3)}) == 3


@pytest.mark.parametrize(
    "options",
    [[], ["--account-id", "1", "--admin"], ["--account-id", "0"], ["--account-id", "x"]],
)
def test_create_needs_exactly_one_scope(app, runner, options):
    result = runner.invoke(args=["api-key", "create", *options])
    assert result.exit_code == 2
    with app.app_context():
        assert db.session.scalars(select(ApiKey)).all() == []


def test_list_with_no_keys(runner):
    result = runner.invoke(args=["api-key", "list"])
    assert result.exit_code == 0
    assert "no API keys" in result.output


def test_revoke_unknown_key_fails(runner):
    result = runner.invoke(args=["api-key", "revoke", "999"])
    assert result.exit_code == 1
    assert "no API key 999" in result.output

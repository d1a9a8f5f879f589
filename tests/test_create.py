"""create.py: one write path on both backends, its rollback, and what it returns."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event, exc, func, insert, select

from messaging.clock import utc_now
from messaging.connections import current_connection
from messaging.create import create_message, request_hash
from messaging.extensions import db
from messaging.models import IdempotencyKey, Message
from messaging.search import get_message

FIELDS = {
    "account_id": 5,
    "sender_number": "+15551230005",
    "receiver_number": "+15559870005",
    "message_text": "rolled back? 👋",
}


@contextmanager
def before_first_insert(action, table="messages"):
    """Run ``action(values)`` on another connection just before a create's first INSERT into
    ``table``."""
    engine = db.engine
    done = []

    def listener(connection, statement, multiparams, params, options):
        if statement.is_insert and statement.table.name == table and not done:
            done.append(True)
            with engine.begin() as other:
                action(other, multiparams[0] if multiparams else params)

    event.listen(engine, "before_execute", listener)
    try:
        yield done
    finally:
        event.remove(engine, "before_execute", listener)


def stored_count() -> int:
    """What is stored, as a connection of its own sees it now."""
    with db.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Message))


def test_created_message_is_what_is_stored_with_the_models_created_at(app):
    with app.app_context():
        before = utc_now()
        created = create_message(**FIELDS)
        assert not created.replayed
        assert before <= created.message.created_at <= utc_now()
        assert get_message(created.message.message_id) == created.message


def test_a_failed_insert_is_rolled_back_and_the_connection_stays_usable(app):
    def same_message_id(other, values):
        other.execute(insert(Message), {**FIELDS, "message_id": values["message_id"]})

    with app.app_context():
        with before_first_insert(same_message_id) as done, pytest.raises(exc.IntegrityError):
            create_message(**FIELDS)
        assert done
        assert not current_connection().in_transaction()
        # Only the other connection's row; the connection goes on as if nothing happened.
        assert stored_count() == 1
        assert create_message(**FIELDS).message.account_id == FIELDS["account_id"]
        assert stored_count() == 2


def test_a_key_stored_between_lookup_and_insert_is_rolled_back_and_replayed(app):
    winner = "019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6a"

    def the_same_request_wins(other, values):
        other.execute(insert(Message), {**FIELDS, "message_id": winner})
        other.execute(
            insert(IdempotencyKey),
            {
                "account_id": FIELDS["account_id"],
                "idempotency_key": "race-1",
                "message_id": winner,
                "request_hash": request_hash(FIELDS),
            },
        )

    with app.app_context():
        with before_first_insert(the_same_request_wins, table="idempotency_keys") as done:
            created = create_message(**FIELDS, idempotency_key="race-1")
        assert done
        assert created.replayed
        assert created.message.message_id == winner
        assert stored_count() == 1

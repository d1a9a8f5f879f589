"""The FastAPI service's messages table, as that service's SQLAlchemy model made it.

Revision ID: f001
Revises:
Create Date: 2026-11-28

The first step of the adoption path (see messaging/adoption.py), never of a new
database: ``init-db`` stamps this revision on a database where it finds that table,
then upgrades to ``f002``. Its upgrade makes the table, so the path can be replayed
on an empty database.
"""

import sqlalchemy as sa
from alembic import op

revision = "f001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("sender_number", sa.String(255), nullable=True),
        sa.Column("receiver_number", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_messages_id", "messages", ["id"])
    op.create_index("ix_messages_message_id", "messages", ["message_id"], unique=True)
    op.create_index("ix_messages_account_id", "messages", ["account_id"])
    op.create_index("ix_messages_sender_number", "messages", ["sender_number"])
    op.create_index("ix_messages_receiver_number", "messages", ["receiver_number"])


def downgrade() -> None:
    op.drop_table("messages")

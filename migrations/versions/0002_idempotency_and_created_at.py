"""Idempotency keys on messages; an index on created_at for time filters and purges.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column(
                "idempotency_key",
                sa.String(255).with_variant(
                    mysql.VARCHAR(255, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
                ),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("request_hash", sa.CHAR(64), nullable=True))
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.create_index(
        "uq_messages_account_id_idempotency_key",
        "messages",
        ["account_id", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_messages_account_id_idempotency_key", table_name="messages")
    op.drop_index("ix_messages_created_at", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("request_hash")
        batch.drop_column("idempotency_key")

"""Create the messages table.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MYSQL_TABLE_OPTIONS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.CHAR(36), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("sender_number", sa.String(16), nullable=False),
        sa.Column("receiver_number", sa.String(16), nullable=False),
        sa.Column("message_text", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sqlite_autoincrement=True,
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("uq_messages_message_id", "messages", ["message_id"], unique=True)
    op.create_index("ix_messages_account_id_id", "messages", ["account_id", "id"])
    op.create_index("ix_messages_sender_number_id", "messages", ["sender_number", "id"])
    op.create_index("ix_messages_receiver_number_id", "messages", ["receiver_number", "id"])


def downgrade() -> None:
    op.drop_table("messages")

"""Idempotency keys move from columns of messages into a table of their own.

A Galera cluster certifies every value of a unique index, NULLs included, so the unique
``(account_id, idempotency_key)`` index made every create without a key write the same
certification key, ``(account_id, NULL)``: keyless creates for one account through
different nodes failed each other's commits. In ``idempotency_keys`` only a create that
sends a key writes a row.

Steps: create the table, copy every stored key into it, then drop the unique index and
the two columns. On MariaDB/MySQL the copy reads the rows without locking them
(``READ COMMITTED``), and the drop is one ``ALTER TABLE`` that rebuilds ``messages`` in
place: with the FULLTEXT index InnoDB allows it only with ``LOCK=SHARED``, so reads go on
and writes wait until it is done (times at a million rows: MIGRATING.md). SQLite drops the
columns in place (3.35 and later), which keeps the text index's triggers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEY_TYPE = sa.String(255).with_variant(
    mysql.VARCHAR(255, charset="ascii", collation="ascii_bin"), "mysql", "mariadb"
)
UNIQUE_INDEX = "uq_messages_account_id_idempotency_key"
COPY_COLUMNS = "account_id, idempotency_key, message_id, request_hash"


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("account_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("idempotency_key", KEY_TYPE, nullable=False),
        sa.Column("message_id", sa.CHAR(36), nullable=False),
        sa.Column("request_hash", sa.CHAR(64), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "idempotency_key"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
    )
    op.create_index("ix_idempotency_keys_message_id", "idempotency_keys", ["message_id"])
    mysql_family = op.get_bind().dialect.name != "sqlite"
    if mysql_family:
        # INSERT ... SELECT would otherwise lock every row it reads from messages.
        op.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    op.execute(
        f"INSERT INTO idempotency_keys ({COPY_COLUMNS}) SELECT {COPY_COLUMNS} FROM messages"
        " WHERE idempotency_key IS NOT NULL"
    )
    if mysql_family:
        op.execute(
            f"ALTER TABLE messages DROP INDEX {UNIQUE_INDEX}, DROP COLUMN idempotency_key,"
            " DROP COLUMN request_hash, ALGORITHM=INPLACE, LOCK=SHARED"
        )
        return
    op.drop_index(UNIQUE_INDEX, table_name="messages")
    op.execute("ALTER TABLE messages DROP COLUMN idempotency_key")
    op.execute("ALTER TABLE messages DROP COLUMN request_hash")


def downgrade() -> None:
    op.add_column("messages", sa.Column("idempotency_key", KEY_TYPE, nullable=True))
    op.add_column("messages", sa.Column("request_hash", sa.CHAR(64), nullable=True))
    op.execute(
        "UPDATE messages SET"
        " idempotency_key = (SELECT k.idempotency_key FROM idempotency_keys k"
        " WHERE k.message_id = messages.message_id),"
        " request_hash = (SELECT k.request_hash FROM idempotency_keys k"
        " WHERE k.message_id = messages.message_id)"
        " WHERE message_id IN (SELECT message_id FROM idempotency_keys)"
    )
    op.create_index(UNIQUE_INDEX, "messages", ["account_id", "idempotency_key"], unique=True)
    op.drop_table("idempotency_keys")

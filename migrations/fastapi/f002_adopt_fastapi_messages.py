"""Adopt the FastAPI service's messages table in place: the shape of revision 0001, rows kept.

Revision ID: f002
Revises: f001
Create Date: 2026-11-28

Every row keeps its id, message_id, account and numbers byte for byte. What changes:
- ``message_text`` and ``created_at`` are added, NULL in every old row: an old row's
  creation time is unknown and is not invented. Rows the old service inserts later
  (it names neither column) get the database's UTC time as ``created_at``.
- ``id`` and ``account_id`` become BIGINT: this service accepts 64-bit account ids.
- The indexes get this service's names and columns: ``(account_id, id)``,
  ``(sender_number, id)``, ``(receiver_number, id)`` and the unique ``message_id``.
- The text columns keep their width (255) and stay nullable: old values are longer
  than 16 characters or NULL, and the old service may write such values again
  while both services run.
Each step checks what is already done, so an interrupted adoption can be run again
(MySQL commits every ALTER TABLE on its own).

On MySQL/MariaDB each ALTER TABLE asks for the least locking the server allows
(INSTANT, else INPLACE with LOCK=NONE, else COPY with LOCK=NONE, else LOCK=SHARED)
and logs what it got. Widening a column's type takes a table copy: MariaDB 10.11
and MySQL 8 do that with LOCK=SHARED (readers go on, writers wait; see MIGRATING.md
for the time a million rows take), MariaDB 11.2 and later with LOCK=NONE.
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "f002"
down_revision = "f001"
branch_labels = None
depends_on = None

log = logging.getLogger("messaging.adoption")

# From least to most locking; a server that cannot do an ALTER under one says so with
# error 1845/1846 and the next is tried.
ONLINE_CLAUSES = (
    "ALGORITHM=INSTANT",
    "ALGORITHM=INPLACE, LOCK=NONE",
    "LOCK=NONE",
    "LOCK=SHARED",
)
ALTER_NOT_SUPPORTED = (1845, 1846)
WHAT_LOCKS_MEAN = {
    "ALGORITHM=INSTANT": "metadata only",
    "ALGORITHM=INPLACE, LOCK=NONE": "readers and writers go on",
    "LOCK=NONE": "table copied; readers and writers go on",
    "LOCK=SHARED": "table copied; readers go on, writers wait",
}

OLD_INDEXES = (
    "ix_messages_id",
    "ix_messages_account_id",
    "ix_messages_sender_number",
    "ix_messages_receiver_number",
)
NEW_INDEXES = {
    "ix_messages_account_id_id": ("account_id", "id"),
    "ix_messages_sender_number_id": ("sender_number", "id"),
    "ix_messages_receiver_number_id": ("receiver_number", "id"),
}
OLD_UNIQUE = "ix_messages_message_id"
NEW_UNIQUE = "uq_messages_message_id"
MYSQL_COLLATION = "utf8mb4 COLLATE utf8mb4_unicode_ci"
MYSQL_NOW = "(UTC_TIMESTAMP(6))"
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now'))"


def upgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        upgrade_mysql()
    else:
        upgrade_sqlite()


def table_state() -> tuple[dict[str, sa.types.TypeEngine], set[str]]:
    inspector = sa.inspect(op.get_bind())
    columns = {column["name"]: column["type"] for column in inspector.get_columns("messages")}
    indexes = {index["name"] for index in inspector.get_indexes("messages")}
    return columns, indexes


def alter_online(*changes: str) -> None:
    """One ALTER TABLE of ``messages`` with the least locking the server allows."""
    for clause in ONLINE_CLAUSES:
        try:
            op.execute(f"ALTER TABLE messages {', '.join(changes)}, {clause}")
        except sa.exc.OperationalError as error:
            if error.orig.args[0] not in ALTER_NOT_SUPPORTED:
                raise
            continue
        log.info("messages: %s (%s: %s)", "; ".join(changes), clause, WHAT_LOCKS_MEAN[clause])
        return
    raise RuntimeError(f"the server refused every form of ALTER TABLE messages {changes}")


def upgrade_mysql() -> None:
    columns, indexes = table_state()
    added = []
    if "message_text" not in columns:
        added.append(f"ADD COLUMN message_text TEXT CHARACTER SET {MYSQL_COLLATION} NULL")
    if "created_at" not in columns:
        # No default yet: with one, the old rows would get the time of this ALTER.
        added.append("ADD COLUMN created_at DATETIME(6) NULL")
    if added:
        alter_online(*added)
    alter_online(f"ALTER COLUMN created_at SET DEFAULT {MYSQL_NOW}")
    alter_online(f"DEFAULT CHARACTER SET {MYSQL_COLLATION}")

    rebuilt = []
    if not isinstance(columns["id"], sa.BigInteger):
        rebuilt.append("MODIFY id BIGINT NOT NULL AUTO_INCREMENT")
    if not isinstance(columns["account_id"], sa.BigInteger):
        rebuilt.append("MODIFY account_id BIGINT NULL")
    rebuilt += [f"DROP INDEX {name}" for name in OLD_INDEXES if name in indexes]
    rebuilt += [
        f"ADD INDEX {name} ({', '.join(index_columns)})"
        for name, index_columns in NEW_INDEXES.items()
        if name not in indexes
    ]
    if OLD_UNIQUE in indexes:
        rebuilt.append(f"RENAME INDEX {OLD_UNIQUE} TO {NEW_UNIQUE}")
    if rebuilt:
        alter_online(*rebuilt)


def upgrade_sqlite() -> None:
    columns, indexes = table_state()
    # Added in place first: a column the table copy below had to make would be filled
    # with its default, and the old rows would get the time of the copy.
    with op.batch_alter_table("messages") as batch:
        if "message_text" not in columns:
            batch.add_column(sa.Column("message_text", sa.Text(), nullable=True))
        if "created_at" not in columns:
            batch.add_column(sa.Column("created_at", sa.DateTime(), nullable=True))
    # SQLite alters a column's default, and adds AUTOINCREMENT (ids never reused, as
    # in a new database), only by copying the table; the copy keeps every value as it is.
    with op.batch_alter_table(
        "messages", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.alter_column(
            "created_at",
            existing_type=sa.DateTime(),
            existing_nullable=True,
            server_default=sa.text(SQLITE_NOW),
        )
        for name in (*OLD_INDEXES, OLD_UNIQUE):
            if name in indexes:
                batch.drop_index(name)
        for name, index_columns in NEW_INDEXES.items():
            if name not in indexes:
                batch.create_index(name, list(index_columns))
        if NEW_UNIQUE not in indexes:
            batch.create_index(NEW_UNIQUE, ["message_id"], unique=True)


def downgrade() -> None:
    raise NotImplementedError(
        "an adopted table is not turned back: the FastAPI service reads and writes it as it is"
    )

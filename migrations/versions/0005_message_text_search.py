"""Text search over message_text: a FULLTEXT index on MariaDB/MySQL, an FTS5 table on SQLite.

MariaDB/MySQL: ``ALGORITHM=INPLACE, LOCK=SHARED``. InnoDB refuses ``LOCK=NONE`` for a
FULLTEXT index ("Fulltext index creation requires a lock"); SHARED keeps reads (lists,
searches) going while the index is built and holds creates and deletes until it is done.
The first FULLTEXT index of a table also rebuilds it to add InnoDB's hidden
``FTS_DOC_ID`` column. Naming both explicitly makes the statement fail at once on a
server that could only do it with a table copy or an exclusive lock, instead of quietly
taking that. How long writes wait at a million rows: README, "Text search".

SQLite: an FTS5 table that indexes ``messages.message_text`` without a copy of it
(``content='messages'``), kept in step by triggers on every insert, update and delete,
and filled from the rows already there. Its tokenizer folds case and accents and keeps
``_`` inside words, as InnoDB's does under ``utf8mb4_unicode_ci``.

A later migration that recreates ``messages`` on SQLite (Alembic's batch mode does, for
most column changes) drops these triggers with the old table: it must create them again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FULLTEXT_INDEX = "ft_messages_message_text"
FTS_TABLE = "messages_fts"
SQLITE_STATEMENTS = (
    f"""CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(
        message_text,
        content='messages',
        content_rowid='id',
        tokenize="unicode61 remove_diacritics 2 tokenchars '_'"
    )""",
    f"""CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON messages BEGIN
        INSERT INTO {FTS_TABLE} (rowid, message_text) VALUES (new.id, new.message_text);
    END""",
    f"""CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON messages BEGIN
        INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, message_text)
        VALUES ('delete', old.id, old.message_text);
    END""",
    f"""CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF id, message_text ON messages BEGIN
        INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, message_text)
        VALUES ('delete', old.id, old.message_text);
        INSERT INTO {FTS_TABLE} (rowid, message_text) VALUES (new.id, new.message_text);
    END""",
    f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('rebuild')",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_STATEMENTS:
            op.execute(statement)
        return
    op.execute(
        f"ALTER TABLE messages ADD FULLTEXT INDEX {FULLTEXT_INDEX} (message_text),"
        " ALGORITHM=INPLACE, LOCK=SHARED"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER {FTS_TABLE}_{trigger}")
        op.execute(f"DROP TABLE {FTS_TABLE}")
        return
    # FORCE rebuilds the table without the hidden FTS_DOC_ID column. Left in place, rows
    # stored after the downgrade were missing from the index an upgrade built again
    # (MariaDB 10.11; reproduced by the suite's migration test).
    op.execute(
        f"ALTER TABLE messages DROP INDEX {FULLTEXT_INDEX}, FORCE, ALGORITHM=INPLACE, LOCK=NONE"
    )

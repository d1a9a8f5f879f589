"""The schema comes from migrations, and the migrations agree with the models."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import flask_migrate
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import Result
from flask import Flask
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from messaging import create_app
from messaging.clock import utc_now
from messaging.create import request_hash
from messaging.extensions import db
from messaging.migrations import alembic_config as messaging_alembic_config
from messaging.models import FULLTEXT_INDEX, Message, modelled_on
from tests.conftest import BACKENDS, mariadb_url


def alembic_config(app: Flask, versions: str | None = None):
    with app.app_context():
        return messaging_alembic_config(versions)


def test_migrated_schema_matches_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, **modelled_on(connection.dialect.name)}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_every_list_query_has_its_index(app):
    with app.app_context():
        indexes = {
            tuple(index["column_names"]): bool(index["unique"])
            for index in inspect(db.engine).get_indexes("messages")
        }
    assert indexes[("message_id",)] is True
    for columns in (("account_id", "id"), ("sender_number", "id"), ("receiver_number", "id")):
        assert indexes[columns] is False


def test_init_db_is_safe_to_repeat(runner, client, create):
    made = create()
    for _ in range(2):
        result = runner.invoke(args=["init-db", "--wait", "0"])
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output
    listed = client.get(f"/v1/search?message_id={made['message_id']}").get_json()
    assert listed == [made]


def test_init_db_reports_an_unreachable_database():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "mysql+pymysql://u@127.0.0.1:1/x", "LOG_FILE": ""})
    result = app.test_cli_runner().invoke(args=["init-db", "--wait", "1"])
    assert result.exit_code != 0
    assert "did not answer within 1 s" in result.output


def test_mysql_tables_and_connection_use_utf8mb4(app):
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name not in ("mysql", "mariadb"):
            pytest.skip("character sets are a MySQL matter")
        collation = connection.execute(
            text(
                "SELECT table_collation FROM information_schema.tables"
                " WHERE table_schema = DATABASE() AND table_name = 'messages'"
            )
        ).scalar_one()
        charset = connection.execute(text("SELECT @@character_set_connection")).scalar_one()
    assert collation == "utf8mb4_unicode_ci"
    assert charset == "utf8mb4"


# The FastAPI service's table exactly as its SQLAlchemy model made it on MySQL, and the
# same on SQLite; rows that service accepted, which it never validated.
FASTAPI_MYSQL_DDL = """
CREATE TABLE messages (
  id INTEGER NOT NULL AUTO_INCREMENT, message_id VARCHAR(255), account_id INTEGER,
  sender_number VARCHAR(255), receiver_number VARCHAR(255), PRIMARY KEY (id));
CREATE INDEX ix_messages_id ON messages (id);
CREATE UNIQUE INDEX ix_messages_message_id ON messages (message_id);
CREATE INDEX ix_messages_account_id ON messages (account_id);
CREATE INDEX ix_messages_sender_number ON messages (sender_number);
CREATE INDEX ix_messages_receiver_number ON messages (receiver_number);
"""
FASTAPI_SQLITE_DDL = """
CREATE TABLE messages (
  id INTEGER NOT NULL, message_id VARCHAR(255), account_id INTEGER,
  sender_number VARCHAR(255), receiver_number VARCHAR(255), PRIMARY KEY (id));
CREATE INDEX ix_messages_id ON messages (id);
CREATE UNIQUE INDEX ix_messages_message_id ON messages (message_id);
CREATE INDEX ix_messages_account_id ON messages (account_id);
CREATE INDEX ix_messages_sender_number ON messages (sender_number);
CREATE INDEX ix_messages_receiver_number ON messages (receiver_number);
"""
# What the old service sent for every create: no message_text, no created_at.
FASTAPI_INSERT = (
    "INSERT INTO messages (message_id, account_id, sender_number, receiver_number)"
    " VALUES (:message_id, :account_id, :sender_number, :receiver_number)"
)
FASTAPI_ROWS = [
    # message_id, account_id, sender_number, receiver_number
    ("0c6f3e4a-2b1d-4f5e-9a8b-7c6d5e4f3a21", 1001, "+1 555-123-4567", "+1 (555) 765-4321"),
    ("5A0E8C2B-3D4F-4A6B-8C9D-0E1F2A3B4C5D", 1001, "555.123.4567", "5557654321"),
    ("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", 1001, "+1 555-123-4567-0000000", "+15557654321"),
    ("1b2c3d4e-5f60-4718-89ab-cdef01234567", 1002, "abc", ""),
    ("2c3d4e5f-6071-4829-9abc-def012345678", None, None, None),
    ("3d4e5f60-7182-493a-abcd-ef0123456789", 1001, "123456789012345678901", "+15557654321"),
    ("4E5F6071-8293-4A4B-BCDE-F0123456789A", 1002, "+1-555-123-4567", "abc"),
]
OLD_COLUMNS = "id, message_id, account_id, sender_number, receiver_number"


def fastapi_database_url(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'fastapi.sqlite3'}"
    url = make_url(mariadb_url())
    return url.set(database=f"{url.database}_fastapi").render_as_string(hide_password=False)


def recreate_mariadb_database(url: str, *, drop_only: bool = False) -> None:
    """A database of the server's default character set, as the old service's was."""
    name = make_url(url).database
    engine = create_engine(make_url(url).set(database=""))
    with engine.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        if not drop_only:
            connection.execute(text(f"CREATE DATABASE `{name}`"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path) -> Iterator[str]:
    """The URL of a database of its own that holds nothing."""
    url = fastapi_database_url(request.param, tmp_path)
    if request.param == "mariadb":
        recreate_mariadb_database(url)
    yield url
    if request.param == "mariadb":
        recreate_mariadb_database(url, drop_only=True)


@pytest.fixture
def fastapi_database(empty_database) -> str:
    """A database holding the FastAPI service's table and rows it accepted."""
    engine = create_engine(empty_database)
    ddl = FASTAPI_SQLITE_DDL if engine.dialect.name == "sqlite" else FASTAPI_MYSQL_DDL
    with engine.begin() as connection:
        for statement in filter(str.strip, ddl.split(";")):
            connection.execute(text(statement))
        for message_id, account_id, sender, receiver in FASTAPI_ROWS:
            connection.execute(
                text(FASTAPI_INSERT),
                {
                    "message_id": message_id,
                    "account_id": account_id,
                    "sender_number": sender,
                    "receiver_number": receiver,
                },
            )
    engine.dispose()
    return empty_database


def old_rows(url: str) -> list[tuple]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT {OLD_COLUMNS} FROM messages ORDER BY id")).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def app_on(url: str) -> Flask:
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "LOG_FILE": ""})


def init_db(url: str, *args: str) -> Result:
    """``flask --app messaging init-db`` on the database at ``url``, in this process."""
    app = app_on(url)
    result = app.test_cli_runner().invoke(args=["init-db", *args])
    with app.app_context():
        db.engine.dispose()
    return result


def assert_one_line_error(result: Result, *phrases: str) -> None:
    """Exit status 1 and a single ``Error:`` line: the command ended with no traceback."""
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for phrase in phrases:
        assert phrase in errors[0]


def test_init_db_adopts_the_fastapi_table_and_keeps_every_row(fastapi_database):
    before = old_rows(fastapi_database)

    result = init_db(fastapi_database)

    assert result.exit_code == 0, result.output
    assert f"adopting the FastAPI service's messages table in place ({len(before)} rows)" in (
        result.stdout
    )
    assert old_rows(fastapi_database) == before
    app = app_on(fastapi_database)
    with app.app_context(), db.engine.connect() as connection:
        new_columns = connection.execute(
            text("SELECT message_text, created_at FROM messages")
        ).all()
        keys = connection.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one()
        heads = MigrationContext.configure(connection).get_current_heads()
        inspector = inspect(connection)
        columns = {column["name"] for column in inspector.get_columns("messages")}
        indexes = {index["name"]: index for index in inspector.get_indexes("messages")}
        tables = set(inspector.get_table_names())
        spellings = set(connection.execute(text("SELECT number, spelling FROM number_spellings")))
        modelled = modelled_on(connection.dialect.name)["include_object"]
        db.engine.dispose()
    assert set(new_columns) == {(None, None)}  # an old row's time is not invented
    assert keys == 0
    # Valid numbers in another spelling, by their normalised form; nothing else.
    assert spellings == {
        ("+15551234567", "+1 555-123-4567"),
        ("+15551234567", "+1-555-123-4567"),
        ("5551234567", "555.123.4567"),
        ("+15557654321", "+1 (555) 765-4321"),
    }
    assert set(heads) == {ScriptDirectory.from_config(alembic_config(app)).get_current_head()}
    assert set(db.metadata.tables) <= tables
    assert {column.name for column in Message.__table__.columns} == columns
    for index in Message.__table__.indexes:
        if not modelled(index, index.name, "index", False, None):
            continue
        assert indexes[index.name]["column_names"] == [column.name for column in index.columns]
        assert bool(indexes[index.name]["unique"]) == bool(index.unique)


def test_the_old_services_insert_works_after_adoption(fastapi_database):
    assert init_db(fastapi_database).exit_code == 0
    engine = create_engine(fastapi_database)
    before = utc_now().replace(microsecond=0)
    with engine.begin() as connection:
        connection.execute(
            text(FASTAPI_INSERT),
            {
                "message_id": "7f1e2d3c-4b5a-4697-8877-665544332211",
                "account_id": 1001,
                "sender_number": "+1 555 123 4567",
                "receiver_number": "12345678901234567890123",
            },
        )
        created_at = connection.execute(
            text("SELECT created_at FROM messages WHERE account_id = 1001 ORDER BY id DESC")
        ).first()[0]
    engine.dispose()
    # Rows written by the old service during the switch get the database's UTC time.
    if isinstance(created_at, str):  # SQLite hands back the text its default made
        created_at = datetime.fromisoformat(created_at)
    assert before <= created_at <= utc_now() + timedelta(seconds=1)


def test_init_db_is_safe_to_repeat_after_adoption(fastapi_database):
    assert init_db(fastapi_database).exit_code == 0
    before = old_rows(fastapi_database)
    result = init_db(fastapi_database)
    assert result.exit_code == 0, result.output
    assert "adopting" not in result.stdout
    assert old_rows(fastapi_database) == before


def test_init_db_finishes_an_interrupted_adoption(fastapi_database):
    before = old_rows(fastapi_database)
    # As if init-db had stopped after the adoption's first ALTER TABLE.
    app = app_on(fastapi_database)
    with app.app_context():
        command.stamp(alembic_config(app, "fastapi"), "f001")
        with db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE messages ADD COLUMN message_text TEXT NULL"))
        db.engine.dispose()

    result = init_db(fastapi_database)

    assert result.exit_code == 0, result.output
    assert old_rows(fastapi_database) == before
    with app.app_context(), db.engine.connect() as connection:
        indexes = {index["name"] for index in inspect(connection).get_indexes("messages")}
        modelled = modelled_on(connection.dialect.name)["include_object"]
        db.engine.dispose()
    assert {
        index.name
        for index in Message.__table__.indexes
        if modelled(index, index.name, "index", False, None)
    } <= indexes


def test_init_db_refuses_a_messages_table_of_another_shape(empty_database):
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT)"))
    result = init_db(empty_database)
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert_one_line_error(result, "messages (id, body)", "Nothing was changed")
    assert tables == {"messages"}


def test_init_db_refuses_a_migration_newer_than_the_code(empty_database):
    assert init_db(empty_database).exit_code == 0
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    result = init_db(empty_database)
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert_one_line_error(result, "at migration 9999", "does not know", "Nothing was changed")
    assert version == [("9999",)]


def test_init_db_names_a_database_that_does_not_exist_at_once():
    """As an operator sees it: one line on stderr, no traceback, and no 60 s of waiting."""
    url = make_url(mariadb_url())
    missing = url.set(database=f"{url.database}_missing")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "messaging", "init-db", "--wait", "60"],
        env={
            **os.environ,
            "DATABASE_URL": missing.render_as_string(hide_password=False),
            "LOG_FILE": "",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - started < 50
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "waiting" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(
        f"Error: database '{url.database}_missing' does not exist at"
        f" {missing.render_as_string(hide_password=True)}"
    )
    assert errors[0].endswith(
        f": create it with CREATE DATABASE `{url.database}_missing` CHARACTER SET utf8mb4"
        " COLLATE utf8mb4_unicode_ci; or correct DB_NAME"
    )


def test_init_db_names_a_refused_login_at_once():
    url = make_url(mariadb_url()).set(username="no_such_user_here", password="s3cret-pw")
    result = init_db(url.render_as_string(hide_password=False), "--wait", "60")
    assert_one_line_error(
        result, "access denied for user 'no_such_user_here'", "check DB_USER and DB_PASSWORD"
    )
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_init_db_names_an_sqlite_file_it_cannot_open(tmp_path):
    result = init_db(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'db.sqlite3'}")
    assert_one_line_error(result, "cannot open the SQLite database", "no/such/dir")


def test_purge_keeps_adopted_rows_whose_age_is_unknown(fastapi_database):
    assert init_db(fastapi_database).exit_code == 0
    app = app_on(fastapi_database)
    result = app.test_cli_runner().invoke(args=["purge", "--older-than", "1s"])
    with app.app_context():
        db.engine.dispose()
    assert result.exit_code == 0, result.output
    assert "deleted 0 messages" in result.output
    assert len(old_rows(fastapi_database)) == len(FASTAPI_ROWS)


def message_ids(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [message["message_id"] for message in response.get_json()]


def test_the_api_serves_adopted_rows_as_stored(fastapi_database):
    """The issue's "done when": old accounts list with their ids, a legacy sender is found by
    its normalised number, a new create comes first, odd old values come back as stored."""
    assert init_db(fastapi_database).exit_code == 0
    client = app_on(fastapi_database).test_client()
    ids = [row[0] for row in FASTAPI_ROWS]

    assert message_ids(client.get("/v1/get/messages/1001")) == [ids[5], ids[2], ids[1], ids[0]]
    assert message_ids(client.get("/v1/get/messages/1002")) == [ids[6], ids[3]]
    # Stored as "+1 555-123-4567" and "+1-555-123-4567"; "555.123.4567" has no country code.
    assert message_ids(client.get("/v1/search?sender_number=%2B15551234567")) == [ids[6], ids[0]]
    assert message_ids(client.get("/v1/search?sender_number=555-123-4567")) == [ids[1]]
    assert message_ids(client.get("/v1/search?receiver_number=%2B15557654321")) == [
        ids[5],
        ids[2],
        ids[0],
    ]
    assert message_ids(
        client.get("/v1/search?sender_number=%2B15551234567,5551234567&account_id=1001")
    ) == [ids[1], ids[0]]

    everything_null = client.get(f"/v1/messages/{ids[4]}")
    assert everything_null.status_code == 200
    assert everything_null.get_json() == {
        "message_id": ids[4],
        "account_id": None,
        "sender_number": None,
        "receiver_number": None,
        "message_text": None,
        "created_at": None,
    }
    not_a_number = client.get(f"/v1/messages/{ids[3]}").get_json()
    assert (not_a_number["sender_number"], not_a_number["receiver_number"]) == ("abc", "")
    too_long = client.get(f"/v1/messages/{ids[5]}").get_json()
    assert too_long["sender_number"] == "123456789012345678901"
    # An upper-case id is found in either case, and returned as stored.
    for asked in (ids[1], ids[1].lower()):
        assert client.get(f"/v1/messages/{asked}").get_json()["message_id"] == ids[1]
    assert message_ids(client.get(f"/v1/search?message_id={ids[1].lower()}")) == [ids[1]]

    created = client.post(
        "/v1/create",
        json={"account_id": 1001, "sender_number": "+1 555 123 4567", "receiver_number": "123"},
    ).get_json()
    assert message_ids(client.get("/v1/get/messages/1001?limit=2")) == [
        created["message_id"],
        ids[5],
    ]
    assert message_ids(client.get("/v1/search?sender_number=%2B15551234567")) == [
        created["message_id"],
        ids[6],
        ids[0],
    ]
    # Old rows have no creation time: a time filter never matches them.
    assert message_ids(
        client.get("/v1/search?account_id=1001&created_after=2000-01-01T00:00:00Z")
    ) == [created["message_id"]]

    assert client.delete(f"/v1/messages/{ids[6].lower()}").status_code == 204
    assert message_ids(client.get("/v1/get/messages/1002")) == [ids[3]]
    with client.application.app_context():
        db.engine.dispose()


TEXT_SEARCH_REVISION = "0005"


def text_index_finds(connection, word: str) -> list[int]:
    """Ids of the rows whose text holds ``word``, read through the text index itself."""
    if connection.dialect.name == "sqlite":
        query = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH :word ORDER BY rowid"
    else:
        query = (
            "SELECT id FROM messages WHERE MATCH (message_text) AGAINST (:word IN BOOLEAN MODE)"
            " ORDER BY id"
        )
    return list(connection.execute(text(query), {"word": f'"{word}"'}).scalars())


def insert_text(connection, number: int, message_text: str | None) -> int:
    return connection.execute(
        text(
            "INSERT INTO messages (message_id, account_id, sender_number, receiver_number,"
            " message_text, created_at) VALUES (:message_id, 1, '+15550000001',"
            " '+15550000002', :message_text, '2026-11-28 12:00:00')"
        ),
        {"message_id": f"00000000-0000-7000-8000-{number:012d}", "message_text": message_text},
    ).lastrowid


def test_text_index_follows_inserts_updates_and_deletes(app):
    # InnoDB's index takes in a transaction's changes when it commits: each step commits.
    with app.app_context(), db.engine.connect() as connection:
        first = insert_text(connection, 1, "parcel arrives Tuesday")
        second = insert_text(connection, 2, "your parcel left the depot")
        insert_text(connection, 3, None)
        connection.commit()
        assert text_index_finds(connection, "parcel") == [first, second]

        connection.execute(
            text("UPDATE messages SET message_text = 'letter arrives' WHERE id = :id"),
            {"id": first},
        )
        connection.execute(text("DELETE FROM messages WHERE id = :id"), {"id": second})
        connection.commit()
        assert text_index_finds(connection, "parcel") == []
        assert text_index_finds(connection, "letter") == [first]


def test_text_index_migration_indexes_the_rows_already_stored(app):
    """Upgrading a database that holds messages makes them searchable at once."""
    with app.app_context():
        flask_migrate.downgrade(revision=f"{TEXT_SEARCH_REVISION}-1")
        try:
            with db.engine.begin() as connection:
                stored = insert_text(connection, 1, "Reminder: dentist on Friday")
        finally:
            flask_migrate.upgrade()
        with db.engine.connect() as connection:
            assert text_index_finds(connection, "dentist") == [stored]


def test_mariadb_text_index_is_fulltext(app):
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            pytest.skip("SQLite's text index is an FTS5 table")
        kind = connection.execute(
            text(
                "SELECT index_type FROM information_schema.statistics WHERE table_schema ="
                " DATABASE() AND table_name = 'messages' AND index_name = :name"
            ),
            {"name": FULLTEXT_INDEX},
        ).scalar_one()
    assert kind == "FULLTEXT"


KEYS_TABLE_REVISION = "0006"


def test_keys_table_migration_keeps_every_stored_key(app, client):
    """Keys stored in the messages table before 0006 replay after it, and back after a
    downgrade."""
    body = {"account_id": 3, "sender_number": "+15551230001", "receiver_number": "+15559870001"}
    with app.app_context():
        flask_migrate.downgrade(revision=f"{KEYS_TABLE_REVISION}-1")
        try:
            with db.engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO messages (message_id, account_id, sender_number,"
                        " receiver_number, created_at, idempotency_key, request_hash) VALUES"
                        " ('00000000-0000-7000-8000-000000000001', 3, '+15551230001',"
                        " '+15559870001', '2026-11-28 12:00:00', 'before-0006', :hash),"
                        " ('00000000-0000-7000-8000-000000000002', 3, '+15551230001',"
                        " '+15559870001', '2026-11-28 12:00:01', NULL, NULL)"
                    ),
                    {"hash": request_hash({**body, "message_text": None})},
                )
        finally:
            flask_migrate.upgrade()

    replay = client.post("/v1/create", json=body, headers={"Idempotency-Key": "before-0006"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json()["message_id"] == "00000000-0000-7000-8000-000000000001"
    changed = client.post(
        "/v1/create",
        json={**body, "account_id": 3, "message_text": "other"},
        headers={"Idempotency-Key": "before-0006"},
    )
    assert changed.status_code == 422

    with app.app_context():
        flask_migrate.downgrade(revision=f"{KEYS_TABLE_REVISION}-1")
        try:
            with db.engine.connect() as connection:
                keyed = connection.execute(
                    text(
                        "SELECT message_id, idempotency_key FROM messages"
                        " WHERE idempotency_key IS NOT NULL"
                    )
                ).all()
        finally:
            flask_migrate.upgrade()
    assert keyed == [("00000000-0000-7000-8000-000000000001", "before-0006")]

"""The schema comes from migrations, and the migrations agree with the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from messaging import create_app
from messaging.extensions import db


def test_migrated_schema_matches_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
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

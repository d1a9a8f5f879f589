"""What ``init-db`` does: wait for the database, recognise what it holds, and migrate it.

A database holds one of four things: nothing of ours (a new deployment); this
service's schema at some migration; the table of the FastAPI service this one
replaces, recognised by its shape; or something else. The first two are upgraded
to the newest migration. The FastAPI table is adopted in place by a migration path
of its own (``migrations/fastapi``: revision f001 names the old table, f002 gives it
the shape of revision 0001, keeping every row), then stamped as 0001, so every
later migration applies to it as to any other database. Anything else stops
``init-db`` with one line saying what was found, before anything is changed.

Every expected failure is a ``SchemaError`` with a one-line message: a database that
does not exist or refuses the login fails at once, naming the target without its
password; one that does not answer yet is waited for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import Connection, Integer, String, func, inspect, select, table, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from messaging.extensions import db
from messaging.mysql_errors import (
    MYSQL_ACCESS_DENIED,
    MYSQL_ACCESS_DENIED_NO_PASSWORD,
    MYSQL_DATABASE_ACCESS_DENIED,
    MYSQL_UNKNOWN_DATABASE,
    mysql_error_code,
)

# The adoption path: its directory under migrations/, its first and last revisions,
# and the revision of this service's history whose schema its last one leaves.
ADOPTION_VERSIONS = "fastapi"
ADOPTION_FIRST = "f001"
ADOPTION_LAST = "f002"
ADOPTED_AS = "0001"
# The FastAPI service's table, as its SQLAlchemy model made it (every column but id nullable).
FASTAPI_COLUMNS = {
    "id": Integer,
    "message_id": String,
    "account_id": Integer,
    "sender_number": String,
    "receiver_number": String,
}

# How often a long migration step reports that it is still at work.
PROGRESS_INTERVAL_SECONDS = 5.0


class SchemaError(Exception):
    """An expected reason ``init-db`` cannot go on; the message is one line for the operator."""


Report = Callable[[str], None]


def target(url: URL) -> str:
    """The database URL as the operator set it, its password masked."""
    return url.render_as_string(hide_password=True)


def permanent_connect_error(error: sa_exc.DBAPIError, url: URL) -> str | None:
    """What to tell the operator about a connection failure that waiting cannot cure."""
    code = mysql_error_code(error)
    where = target(url)
    user, name = url.username or "", url.database or ""
    if code == MYSQL_UNKNOWN_DATABASE:
        return (
            f"database {name!r} does not exist at {where}: create it with"
            f" CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
            " or correct DB_NAME"
        )
    if code == MYSQL_ACCESS_DENIED:
        return f"access denied for user {user!r} at {where}: check DB_USER and DB_PASSWORD"
    if code == MYSQL_ACCESS_DENIED_NO_PASSWORD:
        return (
            f"access denied for user {user!r} at {where}: that account does not log in"
            " with a password (unix_socket authentication); use an account created with"
            " IDENTIFIED BY a password, and check DB_USER and DB_PASSWORD"
        )
    if code == MYSQL_DATABASE_ACCESS_DENIED:
        return (
            f"user {user!r} may not use database {name!r} at {where}: grant it with"
            f" GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'%'"
        )
    if url.get_backend_name() == "sqlite":
        return f"cannot open the SQLite database at {where}: {error.orig}"
    return None


def wait_for_database(timeout: float, report: Report) -> None:
    """Retry until the database answers (a container may start before its database);
    fail at once when it answers with a refusal that waiting cannot cure."""
    url = db.engine.url
    deadline = time.monotonic() + timeout
    while True:
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except sa_exc.DBAPIError as error:
            permanent = permanent_connect_error(error, url)
            if permanent is not None:
                raise SchemaError(permanent) from None
            if time.monotonic() >= deadline:
                raise SchemaError(
                    f"the database at {target(url)} did not answer within {timeout:g} s:"
                    f" {error.orig}"
                ) from None
            report(f"waiting for the database at {target(url)}: {error.orig}")
            time.sleep(1)
        finally:
            db.engine.dispose()


def alembic_config(versions: str | None = None) -> Config:
    """Flask-Migrate's Alembic configuration; ``versions`` names another history under
    migrations/ in place of ``versions``."""
    migrate = current_app.extensions["migrate"].migrate
    config = migrate.get_config()
    if versions is not None:
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", str(Path(migrate.directory, versions)))
    return config


def revisions(config: Config) -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def is_fastapi_table(connection: Connection) -> bool:
    """Whether ``messages`` has the FastAPI service's columns, types and primary key."""
    inspector = inspect(connection)
    columns = {column["name"]: column["type"] for column in inspector.get_columns("messages")}
    return (
        columns.keys() == FASTAPI_COLUMNS.keys()
        and all(isinstance(columns[name], kind) for name, kind in FASTAPI_COLUMNS.items())
        and inspector.get_pk_constraint("messages")["constrained_columns"] == ["id"]
    )


def count_messages(connection: Connection) -> int:
    return connection.scalar(select(func.count()).select_from(table("messages"))) or 0


def describe_tables(connection: Connection, names: list[str]) -> str:
    inspector = inspect(connection)
    return "; ".join(
        f"{name} ({', '.join(column['name'] for column in inspector.get_columns(name))})"
        for name in names
    )


def upgrade_schema(report: Report) -> None:
    """Bring the database to the newest migration, adopting the FastAPI table if it is there.

    Raises ``SchemaError``, having changed nothing, when the database holds a schema
    this code does not know.
    """
    main = alembic_config()
    adoption = alembic_config(ADOPTION_VERSIONS)
    known, adoption_path = revisions(main), revisions(adoption)
    with db.engine.connect() as connection:
        heads = set(MigrationContext.configure(connection).get_current_heads())
        tables = set(inspect(connection).get_table_names())
        unknown_heads = heads - known - adoption_path
        if unknown_heads:
            raise SchemaError(
                f"the database at {target(db.engine.url)} is at migration"
                f" {', '.join(sorted(unknown_heads))}, which this version of messaging does"
                " not know (a newer version migrated it); run that version's init-db, or"
                " restore the backup taken before it. Nothing was changed"
            )
        ours = sorted(tables & set(db.metadata.tables))
        adopt = bool(heads) and heads <= adoption_path
        if not heads and ours:
            if ours != ["messages"] or not is_fastapi_table(connection):
                raise SchemaError(
                    f"the database at {target(db.engine.url)} holds tables this service did"
                    f" not make and has no migration record: {describe_tables(connection, ours)}."
                    " Neither this service's schema nor the FastAPI service's messages table"
                    " (id, message_id, account_id, sender_number, receiver_number). Nothing"
                    " was changed; point the service at another database, or move those"
                    " tables away"
                )
            adopt = True
        rows = count_messages(connection) if adopt else 0
    if adopt:
        report(f"adopting the FastAPI service's messages table in place ({rows:,} rows)")
        if not heads:
            command.stamp(adoption, ADOPTION_FIRST)
        run_with_progress(lambda: command.upgrade(adoption, ADOPTION_LAST), report)
        command.stamp(main, ADOPTED_AS, purge=True)
        report(f"adopted: the table now has the schema of migration {ADOPTED_AS}")
    run_with_progress(lambda: command.upgrade(main, "head"), report)


def run_with_progress(step: Callable[[], None], report: Report) -> None:
    """Run a migration step, saying every few seconds that it is still at work (and, on
    MariaDB, how far a running ALTER TABLE has got). A database error ends it as a
    ``SchemaError``: the migrations finished before it stay applied."""
    app = current_app._get_current_object()
    failure: list[BaseException] = []

    def work() -> None:
        with app.app_context():
            try:
                step()
            except BaseException as error:  # handed to the waiting thread
                failure.append(error)

    started = time.monotonic()
    worker = threading.Thread(target=work, name="init-db migration", daemon=True)
    worker.start()
    while True:
        worker.join(PROGRESS_INTERVAL_SECONDS)
        if not worker.is_alive():
            break
        elapsed = time.monotonic() - started
        report(f"  still migrating after {elapsed:.0f} s{server_progress()}")
    if failure:
        error = failure[0]
        if isinstance(error, sa_exc.DBAPIError):
            raise SchemaError(
                f"the migration stopped on a database error: {error.orig}. Migrations"
                " completed before it are kept; run init-db again once that is fixed"
            ) from None
        raise error


def server_progress() -> str:
    """How far MariaDB says a running ALTER TABLE (or CREATE INDEX) on this database has got,
    or nothing."""
    if db.engine.dialect.name not in ("mysql", "mariadb"):
        return ""
    try:
        with db.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT stage, max_stage, progress FROM information_schema.processlist"
                    " WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                    " AND (info LIKE 'ALTER TABLE%' OR info LIKE 'CREATE%INDEX%')"
                )
            ).first()
    except sa_exc.DBAPIError:  # MySQL has no progress columns; the elapsed time will do
        return ""
    if row is None or not row.max_stage:  # nothing running, or nothing reported
        return ""
    return f": the server is at {row.progress:.0f} % of stage {row.stage} of {row.max_stage}"

"""Alembic environment: migrates the database of the Flask application in context."""

from __future__ import annotations

from alembic import context
from flask import current_app
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from messaging.config import engine_options, is_mysql
from messaging.extensions import db
from messaging.models import modelled_on

config = context.config
target_metadata = db.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=db.engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        **modelled_on(db.engine.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def migration_engine() -> Engine:
    """The application's database, as migrations of a table in use need it on MySQL/MariaDB.

    Without the read timeout that ends a stalled request's query: copying a big table takes
    minutes, and the server sends nothing meanwhile. READ COMMITTED: under REPEATABLE READ
    an ``INSERT … SELECT`` locks every row it reads, and the service's writes would wait.
    """
    url = db.engine.url
    if not is_mysql(url):
        return db.engine
    connect_args = {**engine_options(url)["connect_args"], "read_timeout": None}
    return create_engine(
        url, poolclass=NullPool, connect_args=connect_args, isolation_level="READ COMMITTED"
    )


def run_migrations_online() -> None:
    extension = current_app.extensions["migrate"]
    with migration_engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # Flask-Migrate's defaults: compare types, and batch mode so SQLite can ALTER.
            **extension.configure_args,
            **modelled_on(connection.dialect.name),
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

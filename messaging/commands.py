"""Flask CLI commands: ``flask --app messaging init-db``."""

from __future__ import annotations

import time

import click
import flask_migrate
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from messaging.extensions import db

INIT_DB_WAIT_SECONDS = 60


def wait_for_database(timeout: float) -> None:
    """Retry until the database answers; a container may start before its database."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except sa_exc.OperationalError as error:
            cause = getattr(error, "orig", error)
            if time.monotonic() >= deadline:
                raise click.ClickException(
                    f"the database did not answer within {timeout:g} s: {cause}"
                ) from None
            click.echo(f"waiting for the database: {cause}", err=True)
            time.sleep(1)
        finally:
            db.engine.dispose()


@click.command("init-db")
@click.option(
    "--wait",
    default=INIT_DB_WAIT_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to keep retrying a database that does not answer yet.",
)
@with_appcontext
def init_db_command(wait: float) -> None:
    """Bring the database schema to the newest migration (safe to run again)."""
    wait_for_database(wait)
    flask_migrate.upgrade()
    click.echo("database schema is up to date")


def register_commands(app: Flask) -> None:
    app.cli.add_command(init_db_command)

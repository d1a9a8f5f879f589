"""Flask CLI commands: ``init-db`` (schema), ``purge`` (retention), ``api-key`` (access),
``version``."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from messaging import api_keys, migrations
from messaging.clock import utc_now
from messaging.config import parse_duration
from messaging.conflicts import WriteConflictError
from messaging.deletion import (
    PURGE_BATCH_SIZE,
    count_messages_older_than,
    purge_messages_older_than,
)
from messaging.errors import DATABASE_UNAVAILABLE, describe_database_error
from messaging.limits import ACCOUNT_ID_MAX, ACCOUNT_ID_MIN
from messaging.version import __version__

INIT_DB_WAIT_SECONDS = 60


def database_errors_as_one_line(command: Callable[..., Any]) -> Callable[..., Any]:
    """A database that cannot be reached ends the command with one line, not a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DATABASE_UNAVAILABLE as error:
            _, described = describe_database_error(error)
            raise click.ClickException(f"the database cannot be reached: {described}") from None

    return run


@click.command("init-db")
@click.option(
    "--wait",
    default=INIT_DB_WAIT_SECONDS,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to keep retrying a database that does not answer yet.",
)
@click.option(
    "--on-start",
    is_flag=True,
    help="Do it only when INIT_DB_ON_START is true (the container's entrypoint).",
)
@with_appcontext
def init_db_command(wait: float, on_start: bool) -> None:
    """Bring the database schema to the newest migration (safe to run again).

    A database holding the FastAPI service's messages table is adopted in place.
    """
    if on_start and not current_app.config["INIT_DB_ON_START"]:
        return
    try:
        migrations.wait_for_database(wait, report=lambda line: click.echo(line, err=True))
        migrations.upgrade_schema(report=click.echo)
    except migrations.SchemaError as error:
        raise click.ClickException(str(error)) from None
    click.echo("database schema is up to date")


class Duration(click.ParamType):
    """A span of time such as ``90d``, ``12h`` or ``2w`` (units s, m, h, d, w)."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


@click.command("purge")
@click.option(
    "--older-than",
    "age",
    type=Duration(),
    required=True,
    help="Delete messages created longer ago than this, e.g. 90d (units s, m, h, d, w).",
)
@click.option(
    "--account-id",
    type=click.IntRange(ACCOUNT_ID_MIN, ACCOUNT_ID_MAX),
    help="Only this account's messages.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=PURGE_BATCH_SIZE,
    show_default=True,
    help="Messages deleted per transaction.",
)
@with_appcontext
@database_errors_as_one_line
def purge_command(age: timedelta, account_id: int | None, dry_run: bool, batch_size: int) -> None:
    """Delete messages older than a retention period, a short transaction per batch."""
    cutoff = utc_now() - age
    scope = f" of account {account_id}" if account_id is not None else ""
    what = f"messages{scope} created before {cutoff.isoformat(timespec='seconds')}Z"
    total = count_messages_older_than(cutoff, account_id)
    if dry_run:
        click.echo(f"would delete {total:,} {what} (dry run, nothing deleted)")
        return

    started = time.monotonic()
    deleted = batches = 0
    batches_of_deletions = purge_messages_older_than(cutoff, account_id, batch_size)

    def rate() -> str:
        elapsed = time.monotonic() - started
        per_second = deleted / elapsed if elapsed > 0 else 0.0
        return f"{deleted:,}/{total:,} deleted, {per_second:,.0f}/s"

    # A bar only for a person at a terminal: logs and cron mail get the summary alone.
    try:
        if sys.stdout.isatty():
            with click.progressbar(
                length=max(total, 1), label="purging", item_show_func=lambda _: rate()
            ) as bar:
                for count in batches_of_deletions:
                    deleted += count
                    batches += 1
                    bar.update(count, deleted)
        else:
            for count in batches_of_deletions:
                deleted += count
                batches += 1
    except WriteConflictError:
        raise click.ClickException(
            f"a batch kept losing to concurrent writes (conflict, retry): {deleted:,} {what}"
            " deleted so far, the batch that lost deleted nothing; run purge again"
        ) from None
    elapsed = time.monotonic() - started
    unit = "batch" if batches == 1 else "batches"
    click.echo(f"deleted {deleted:,} {what} in {batches:,} {unit}, {elapsed:.1f} s")


api_key_cli = AppGroup("api-key", help="Create, list and revoke API keys.")


def describe_scope(account_id: int | None) -> str:
    return "every account (admin)" if account_id is None else f"account {account_id}"


@api_key_cli.command("create")
@click.option(
    "--account-id",
    type=click.IntRange(ACCOUNT_ID_MIN, ACCOUNT_ID_MAX),
    help="The one account the key may act for.",
)
@click.option("--admin", is_flag=True, help="A key that may act for every account.")
@with_appcontext
@database_errors_as_one_line
def create_api_key_command(account_id: int | None, admin: bool) -> None:
    """Make a key and print its token, once: only a hash of it is stored."""
    if admin == (account_id is not None):
        raise click.UsageError("give either --account-id N or --admin")
    key, token = api_keys.create_api_key(account_id)
    click.echo(f"API key {key.id} for {describe_scope(key.account_id)}; the token, shown only now:")
    click.echo(token)


@api_key_cli.command("list")
@with_appcontext
@database_errors_as_one_line
def list_api_keys_command() -> None:
    """Every key: id, scope, when it was made and whether it is revoked (never the token)."""
    keys = api_keys.list_api_keys()
    if not keys:
        click.echo("no API keys")
        return
    click.echo(f"{'ID':>6}  {'CREATED (UTC)':19}  {'STATUS':27}  SCOPE")
    for key in keys:
        status = (
            "active"
            if key.revoked_at is None
            else f"revoked {key.revoked_at.isoformat(sep=' ', timespec='seconds')}"
        )
        created = key.created_at.isoformat(sep=" ", timespec="seconds")
        click.echo(f"{key.id:>6}  {created:19}  {status:27}  {describe_scope(key.account_id)}")


@api_key_cli.command("revoke")
@click.argument("key_id", type=click.IntRange(min=1), metavar="ID")
@with_appcontext
@database_errors_as_one_line
def revoke_api_key_command(key_id: int) -> None:
    """Revoke a key for good: its token is refused from the next request on."""
    key = api_keys.revoke_api_key(key_id)
    if key is None:
        raise click.ClickException(f"there is no API key {key_id}")
    click.echo(f"API key {key.id} for {describe_scope(key.account_id)} is revoked")


@click.command("version")
def version_command() -> None:
    """Print the service's version."""
    click.echo(f"messaging {__version__}")


def register_commands(app: Flask) -> None:
    app.cli.add_command(version_command)
    app.cli.add_command(init_db_command)
    app.cli.add_command(purge_command)
    app.cli.add_command(api_key_cli)

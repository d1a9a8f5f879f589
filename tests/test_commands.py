"""Flask CLI commands: ``purge`` deletes messages past their retention period, in batches;
``version``, ``init-db --on-start``, and what any command logs."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, update
from sqlalchemy import select as sql_select

from messaging.clock import utc_now
from messaging.deletion import PURGE_BATCH_SIZE
from messaging.extensions import db
from messaging.models import IdempotencyKey, Message
from messaging.version import __version__
from tests.servers import REPO_ROOT, VENV_BIN, server_environment


@pytest.fixture
def insert_messages(app):
    """Insert ``count`` messages of one account, each ``age`` old (oldest first), directly."""

    def insert_messages(count, age, account_id=1):
        now = utc_now()
        rows = [
            {
                "message_id": str(uuid.uuid4()),
                "account_id": account_id,
                "sender_number": "+15551230001",
                "receiver_number": "+15559870001",
                "message_text": None,
                "created_at": now - age - timedelta(seconds=count - n),
            }
            for n in range(count)
        ]
        with app.app_context():
            db.session.execute(insert(Message), rows)
            db.session.commit()
        return [row["message_id"] for row in rows]

    return insert_messages


def remaining(app, account_id=None):
    with app.app_context():
        query = sql_select(Message.message_id)
        if account_id is not None:
            query = query.where(Message.account_id == account_id)
        return set(db.session.scalars(query))


def test_purge_deletes_exactly_the_messages_older_than_the_cutoff(app, runner, insert_messages):
    batches = PURGE_BATCH_SIZE
    old = insert_messages(2 * batches + 500, timedelta(days=90, minutes=1))
    young = insert_messages(30, timedelta(days=89, hours=23, minutes=59))

    result = runner.invoke(args=["purge", "--older-than", "90d"])

    assert result.exit_code == 0, result.output
    assert remaining(app) == set(young)
    assert f"deleted {len(old):,} messages created before" in result.output
    assert "in 3 batches" in result.output
    # not a terminal: the summary line and no progress bar
    assert result.output.count("\n") == 1


def test_purge_frees_the_idempotency_keys_of_what_it_deletes(app, client, runner):
    def create(key):
        body = {"account_id": 4, "sender_number": "+15551230001", "receiver_number": "+1555987"}
        return client.post("/v1/create", json=body, headers={"Idempotency-Key": key})

    old, young = (create(key).get_json()["message_id"] for key in ("old-key", "young-key"))
    with app.app_context():
        db.session.execute(
            update(Message)
            .where(Message.message_id == old)
            .values(created_at=utc_now() - timedelta(days=2))
        )
        db.session.commit()

    result = runner.invoke(args=["purge", "--older-than", "1d"])

    assert result.exit_code == 0, result.output
    assert remaining(app) == {young}
    with app.app_context():
        assert set(db.session.scalars(sql_select(IdempotencyKey.message_id))) == {young}
    again = create("old-key")
    assert "Idempotent-Replayed" not in again.headers
    assert again.get_json()["message_id"] != old
    replayed = create("young-key")
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.get_json()["message_id"] == young


def test_purge_of_one_account_leaves_the_others(app, runner, insert_messages):
    mine = insert_messages(40, timedelta(days=10), account_id=7)
    kept = insert_messages(40, timedelta(days=10), account_id=8)
    recent = insert_messages(5, timedelta(hours=1), account_id=7)

    result = runner.invoke(
        args=["purge", "--older-than", "1w", "--account-id", "7", "--batch-size", "15"]
    )

    assert result.exit_code == 0, result.output
    assert remaining(app, 7) == set(recent)
    assert remaining(app, 8) == set(kept)
    assert f"deleted {len(mine)} messages of account 7" in result.output
    assert "in 3 batches" in result.output


def test_purge_dry_run_counts_and_deletes_nothing(app, runner, insert_messages):
    made = insert_messages(25, timedelta(hours=3)) + insert_messages(5, timedelta(minutes=1))

    result = runner.invoke(args=["purge", "--older-than", "2h", "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "would delete 25 messages" in result.output
    assert remaining(app) == set(made)


def test_purge_with_nothing_to_delete(app, runner, insert_messages):
    made = insert_messages(3, timedelta(days=1))
    result = runner.invoke(args=["purge", "--older-than", "90d"])
    assert result.exit_code == 0, result.output
    assert "deleted 0 messages" in result.output
    assert "in 0 batches" in result.output
    assert remaining(app) == set(made)


@pytest.mark.parametrize("value", ["90", "d", "0d", "-5d", "1y", "ninety days", "1.5d"])
def test_purge_rejects_bad_duration(app, runner, insert_messages, value):
    made = insert_messages(3, timedelta(days=400))
    result = runner.invoke(args=["purge", "--older-than", value])
    assert result.exit_code == 2
    assert "--older-than" in result.output
    assert remaining(app) == set(made)


def test_purge_requires_older_than(runner):
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 2
    assert "--older-than" in result.output


def test_purge_shows_progress_with_rate_on_a_terminal(app, database_url, insert_messages):
    insert_messages(1200, timedelta(days=2))
    leader, follower = pty.openpty()
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_FILE": "", "COLUMNS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "messaging", "purge", "--older-than", "1d"],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    output = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the other end closed: the command finished
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0, process.stderr.read()
    process.stderr.close()
    text = output.decode()
    assert "purging" in text
    assert "1,200/1,200 deleted" in text
    assert "in 2 batches" in text
    assert "/s" in text
    assert "deleted 1,200 messages" in text
    with app.app_context():
        assert db.session.scalar(sql_select(func.count()).select_from(Message)) == 0


def test_purge_of_a_single_batch_says_so(app, runner, insert_messages):
    insert_messages(5, timedelta(days=3))
    result = runner.invoke(args=["purge", "--older-than", "2d"])
    assert result.exit_code == 0, result.output
    assert "deleted 5 messages" in result.output
    assert "in 1 batch," in result.output


def run_flask(*arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``flask --app messaging ARGUMENTS`` as a user runs it, with only ``settings`` configured."""
    return subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "messaging", *arguments],
        cwd=REPO_ROOT,
        env=server_environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version_command_prints_the_package_version():
    done = run_flask("version", LOG_FILE="")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"messaging {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_commands_log_to_the_console_only_and_never_warn_about_auth(tmp_path):
    log_file = tmp_path / "logs" / "app.log"
    settings = {"LOG_FILE": str(log_file), "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite3'}"}
    helped = run_flask("--help", **settings)
    assert helped.returncode == 0, helped.stderr
    migrated = run_flask("init-db", **settings)
    assert migrated.returncode == 0, migrated.stderr
    assert "alembic.runtime.migration INFO" in migrated.stderr
    assert not log_file.exists()
    assert "AUTH_ENABLED" not in helped.stdout + helped.stderr + migrated.stdout + migrated.stderr


def test_commands_run_where_the_service_could_not_write_its_log_file(tmp_path):
    # /sys refuses new files even to root: the service would stop at start with one line.
    settings = {
        "LOG_FILE": "/sys/messaging-test/app.log",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite3'}",
    }
    migrated = run_flask("init-db", **settings)
    assert migrated.returncode == 0, migrated.stderr
    assert "database schema is up to date" in migrated.stdout
    assert "Traceback" not in migrated.stderr


@pytest.mark.parametrize(("value", "migrates"), [("", False), ("0", False), ("1", True)])
def test_init_db_on_start_migrates_only_when_asked(tmp_path, value, migrates):
    database = tmp_path / "m.sqlite3"
    done = run_flask(
        "init-db",
        "--on-start",
        LOG_FILE="",
        INIT_DB_ON_START=value,
        DATABASE_URL=f"sqlite:///{database}",
    )
    assert done.returncode == 0, done.stderr
    assert ("database schema is up to date" in done.stdout) is migrates
    assert database.exists() is migrates


@pytest.mark.parametrize(
    "args",
    [["purge", "--older-than", "90d"], ["api-key", "list"], ["api-key", "create", "--admin"]],
)
def test_commands_say_in_one_line_that_the_database_is_down(unreachable_app, args):
    result = unreachable_app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: the database cannot be reached: OperationalError (2003)"
    ]

"""mysql_errors.py: the error number read off a driver's error, wrapped or not."""

from __future__ import annotations

import sqlite3

import pymysql
import pytest
from sqlalchemy import exc as sa_exc

from messaging.mysql_errors import MYSQL_DEADLOCK, MYSQL_UNKNOWN_DATABASE, mysql_error_code

pytestmark = pytest.mark.database_agnostic


def test_the_number_of_a_driver_error_wrapped_by_sqlalchemy():
    driver_error = pymysql.err.OperationalError(MYSQL_DEADLOCK, "Deadlock found")
    error = sa_exc.OperationalError("INSERT ...", {}, driver_error)
    assert mysql_error_code(error) == MYSQL_DEADLOCK


def test_the_number_of_a_bare_driver_error():
    error = pymysql.err.OperationalError(MYSQL_UNKNOWN_DATABASE, "Unknown database 'x'")
    assert mysql_error_code(error) == MYSQL_UNKNOWN_DATABASE


@pytest.mark.parametrize(
    "error",
    [
        sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
        sqlite3.OperationalError("database is locked"),
        sa_exc.TimeoutError("QueuePool limit reached"),
        TimeoutError("no connection within 2 s"),
        ValueError(),
    ],
    ids=["sqlite-wrapped", "sqlite-bare", "pool-timeout", "own-timeout", "no-arguments"],
)
def test_an_error_without_a_mysql_number_has_none(error):
    assert mysql_error_code(error) is None

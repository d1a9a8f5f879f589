"""Write conflicts: a concurrent write won, so the server rolled this transaction back whole.

On one InnoDB server that is a deadlock victim; on a Galera cluster also a failed
certification: two nodes committed writes to the same key at once and the one certified
second was rolled back, at any statement or at COMMIT. Either way MySQL error 1213 means
nothing of the transaction is stored, so running it again from its start is safe, and after
a short random pause (so that the writers that collided do not collide again) it usually
succeeds. A lock wait timeout (1205) is a conflict as well, but it is not run again: it has
already waited ``innodb_lock_wait_timeout``, and MySQL rolls back only its last statement.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exc as sa_exc

from messaging.connections import current_connection
from messaging.mysql_errors import MYSQL_DEADLOCK, MYSQL_LOCK_WAIT_TIMEOUT, mysql_error_code

CONFLICT_ERROR_CODES = frozenset({MYSQL_DEADLOCK, MYSQL_LOCK_WAIT_TIMEOUT})
# Attempts of one transaction before the client is told to retry (about 0.3 s of pauses at most).
TRANSACTION_ATTEMPTS = 6
# Full jitter: a pause drawn from [0, bound], the bound doubling per attempt up to the cap.
FIRST_PAUSE_BOUND_SECONDS = 0.01
PAUSE_CAP_SECONDS = 0.1

T = TypeVar("T")

log = logging.getLogger(__name__)


class WriteConflictError(Exception):
    """A write lost to concurrent writes on every attempt; nothing of it was stored."""


def is_write_conflict(error: BaseException) -> bool:
    return (
        isinstance(error, sa_exc.OperationalError)
        and mysql_error_code(error) in CONFLICT_ERROR_CODES
    )


def retry_on_conflict(
    transaction: Callable[[], T],
    attempts: int = TRANSACTION_ATTEMPTS,
    pause_cap: float = PAUSE_CAP_SECONDS,
) -> T:
    """Run ``transaction`` (which ends by committing on the request's connection) until no
    conflict stops it.

    After a deadlock or failed certification the connection is rolled back and the whole
    transaction runs again, after a random pause of at most ``pause_cap`` seconds;
    ``WriteConflictError`` when all ``attempts`` lost. Any other error propagates at once.
    """
    for attempt in range(attempts):
        try:
            return transaction()
        except sa_exc.OperationalError as error:
            if mysql_error_code(error) != MYSQL_DEADLOCK:
                raise
            current_connection().rollback()
            if attempt + 1 == attempts:
                log.warning("write conflict: gave up after %d attempts", attempts)
                raise WriteConflictError from error
        bound = min(pause_cap, FIRST_PAUSE_BOUND_SECONDS * 2**attempt)
        time.sleep(random.uniform(0, bound))
    raise AssertionError("unreachable")

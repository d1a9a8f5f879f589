"""How lookups find values stored before this service's input rules: rows adopted from the
FastAPI service keep numbers as its clients spelt them (``+1 555-123-4567``) and message ids
in whatever letter case they were written.

A search value is a normalised number; the stored spellings that normalise to it are kept
in ``number_spellings`` (filled by migration 0004) and searched for beside it. A database
that never held the old table has no spellings: whether there are any is asked once per
engine, so there a search costs no extra query.
"""

from __future__ import annotations

from collections.abc import Sequence
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, exists, select

from messaging.connections import current_connection
from messaging.models import NumberSpelling

_has_spellings: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()


def number_spellings(numbers: Sequence[str] | None) -> Sequence[str] | None:
    """The normalised ``numbers`` and every stored spelling of them, for an IN list."""
    if not numbers:
        return numbers
    connection = current_connection()
    engine = connection.engine
    if engine not in _has_spellings:
        _has_spellings[engine] = bool(connection.scalar(select(exists(NumberSpelling.id))))
    if not _has_spellings[engine]:
        return numbers
    spellings = connection.scalars(
        select(NumberSpelling.spelling).where(NumberSpelling.number.in_(numbers)).distinct()
    )
    return [*numbers, *spellings]


def message_id_spellings(message_id: str) -> list[str]:
    """A canonical (lower-case) message id and its upper-case form, as old rows may hold it.

    MySQL's case-insensitive collation finds either already; SQLite compares bytes.
    """
    return [message_id, message_id.upper()]

"""Text search: a user's words as a query each engine reads as text, never as syntax.

MariaDB/MySQL find words through an InnoDB ``FULLTEXT`` index in boolean mode, where
``+ - " * @ ~ < > ( )`` are operators; SQLite finds them through an FTS5 table, whose
query language has its own (``AND OR NOT NEAR ^ * : ( )`` and quotes). Passing a
user's words through would let ``-word`` exclude, ``word*`` widen, or a stray ``"``
break the query. So each word the user gives is reduced to its runs of letters and
digits and sent as a quoted phrase: the one construct both engines read literally,
and with nothing but letters, digits, ``_`` and spaces inside it nothing is left to
escape. Both engines' tokenizers split text at every other character, so
``e-mail`` still finds "e-mail" (as the phrase "e mail") and ``don't`` finds "don't".

InnoDB does not index words shorter than ``innodb_ft_min_token_size`` nor its stop
words, and a required word it does not index matches nothing. Such words are left
out of the query, on both engines, so that SQLite (which indexes every word) answers
as MariaDB does; a search with no word left matches no message, as it would there.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    bindparam,
    column,
    false,
    select,
    table,
    text,
)

from messaging.connections import current_connection
from messaging.models import SQLITE_TEXT_INDEX_TABLE, Message

# Runs of letters, digits and "_": what both engines' tokenizers keep as one word
# (FTS5 is told to keep "_", as InnoDB does).
WORD_PART = re.compile(r"\w+")

# InnoDB's defaults (innodb_ft_min_token_size, INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD),
# the same on MariaDB and MySQL 8; SQLite searches follow them.
INNODB_MIN_TOKEN_SIZE = 3
# fmt: off
INNODB_DEFAULT_STOPWORDS = frozenset({
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "who", "will", "with", "und", "www",
})
# fmt: on


# SQLite's FTS5 table, as much of it as a query names; the migration makes it.
SQLITE_TEXT_INDEX = table(SQLITE_TEXT_INDEX_TABLE, column("rowid"), column("message_text"))


@dataclass(frozen=True)
class IndexedWords:
    """Which words the text index holds: long enough, and not a stop word."""

    min_length: int = INNODB_MIN_TOKEN_SIZE
    stopwords: frozenset[str] = INNODB_DEFAULT_STOPWORDS

    def holds(self, part: str) -> bool:
        return len(part) >= self.min_length and part.lower() not in self.stopwords


def read_indexed_words(connection: Connection) -> IndexedWords:
    """The MariaDB/MySQL server's rule: its minimum token size and its stop words.

    Both are fixed when the index is built (the minimum only at server start), so a
    process reads them once per database.
    """
    min_length, stopwords_on, stopword_table = connection.execute(
        text(
            "SELECT @@innodb_ft_min_token_size, @@innodb_ft_enable_stopword,"
            " @@innodb_ft_server_stopword_table"
        )
    ).one()
    if not stopwords_on:
        return IndexedWords(int(min_length), frozenset())
    if stopword_table:
        quote = connection.dialect.identifier_preparer.quote
        schema, _, table = str(stopword_table).partition("/")
        source = f"{quote(schema)}.{quote(table)}"
    else:
        source = "information_schema.INNODB_FT_DEFAULT_STOPWORD"
    words = connection.execute(text(f"SELECT value FROM {source}")).scalars()
    return IndexedWords(int(min_length), frozenset(str(word).lower() for word in words))


def phrases(words: Sequence[str], indexed: IndexedWords) -> list[str]:
    """Each word as the space-joined runs of letters and digits it holds.

    A word none of whose parts the index holds is left out: it could only match nothing.
    """
    found = []
    for word in words:
        parts = WORD_PART.findall(word)
        if any(indexed.holds(part) for part in parts):
            found.append(" ".join(parts))
    return found


def boolean_mode_query(words: Sequence[str], indexed: IndexedWords) -> str:
    """``MATCH … AGAINST (… IN BOOLEAN MODE)`` text: every word required, as a phrase;
    empty when no word is left."""
    return " ".join(f'+"{phrase}"' for phrase in phrases(words, indexed))


def fts5_query(words: Sequence[str], indexed: IndexedWords) -> str:
    """FTS5 ``MATCH`` text: the phrases side by side, which FTS5 reads as all required."""
    return " ".join(f'"{phrase}"' for phrase in phrases(words, indexed))


# Each MariaDB/MySQL database's rule, read on its first search.
_server_rules: weakref.WeakKeyDictionary[Engine, IndexedWords] = weakref.WeakKeyDictionary()


# The bind parameter that carries a search's query text.
TEXT_QUERY_PARAMETER = "text_query"


@dataclass(frozen=True)
class TextQuery:
    """A user's words as the request's database reads them: ``text``, the query for its text
    index ("" when the index holds none of the words, which matches nothing).

    MariaDB/MySQL answer a ``MATCH`` in ``WHERE`` through the FULLTEXT index: every row
    holding the words is read, then filtered and sorted, which for a common word in a
    million rows means 130,000 row reads for one page of one account. The same ``MATCH``
    in ``HAVING`` leaves the access to the other filters' index and is checked on each
    row read (the words' row set is still looked up once, in memory). So where a query
    walks an index range of an account, a number or ids, ``on_rows_read`` says the
    condition may go in ``HAVING``, with ``message_text`` among the selected columns.
    """

    text: str
    on_sqlite: bool

    @property
    def on_rows_read(self) -> bool:
        return bool(self.text) and not self.on_sqlite


def text_query(words: Sequence[str]) -> TextQuery:
    """The query text that finds messages holding every one of ``words``, for the request's
    database."""
    connection = current_connection()
    if connection.dialect.name == "sqlite":
        return TextQuery(fts5_query(words, IndexedWords()), on_sqlite=True)
    rule = _server_rules.get(connection.engine)
    if rule is None:
        rule = _server_rules[connection.engine] = read_indexed_words(connection)
    return TextQuery(boolean_mode_query(words, rule), on_sqlite=False)


def text_condition(on_sqlite: bool, matches_nothing: bool) -> ColumnElement[bool]:
    """The condition "the message text holds the words", with the query text left to the
    ``TEXT_QUERY_PARAMETER`` bind parameter."""
    if matches_nothing:
        return false()
    query = bindparam(TEXT_QUERY_PARAMETER, type_=String)
    if on_sqlite:
        matching = select(SQLITE_TEXT_INDEX.c.rowid).where(
            SQLITE_TEXT_INDEX.c.message_text.match(query)
        )
        return Message.id.in_(matching)
    return Message.message_text.match(query)

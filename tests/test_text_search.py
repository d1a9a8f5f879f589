"""text_search.py: a user's words become quoted phrases, whatever characters they hold."""

from __future__ import annotations

import re

import pytest

from messaging.extensions import db
from messaging.text_search import (
    INNODB_DEFAULT_STOPWORDS,
    INNODB_MIN_TOKEN_SIZE,
    IndexedWords,
    NoIndexedWordError,
    boolean_mode_query,
    fts5_query,
    read_indexed_words,
)

DEFAULTS = IndexedWords()
# Every boolean-mode operator, alone, doubled, and around a word.
OPERATOR_WORDS = [
    *'+-"*@~<>()',
    '""',
    "++",
    "+word",
    "-word",
    "word*",
    '"word',
    'word"',
    "@word",
    "~word",
    "<word",
    ">word",
    "(word)",
    '"word"@3',
    "word\\",
    "word'",
    "NOT",
    "word:",
    "^word",
    "NEAR(word",
]
BOOLEAN_QUERY = re.compile(r'^\+"[\w ]+"( \+"[\w ]+")*$')
FTS5_QUERY = re.compile(r'^"[\w ]+"( "[\w ]+")*$')


@pytest.mark.parametrize("operator_word", OPERATOR_WORDS)
def test_operator_characters_become_text(operator_word):
    words = ["hello", operator_word, "world"]
    query = boolean_mode_query(words, DEFAULTS)
    assert BOOLEAN_QUERY.match(query), query
    assert FTS5_QUERY.match(fts5_query(words, DEFAULTS))


@pytest.mark.parametrize(
    ("word", "phrase"),
    [
        ("+word", '"word"'),
        ("-word*", '"word"'),
        ('"(word)"', '"word"'),
        ("e-mail", '"e mail"'),
        ("don't", '"don t"'),
        ("foo_bar", '"foo_bar"'),
        ("Café", '"Café"'),
        ("C++-hello", '"C hello"'),
        ("a\x00b\x00cde", '"a b cde"'),
    ],
)
def test_each_word_is_one_phrase_of_its_letters_and_digits(word, phrase):
    assert boolean_mode_query([word], DEFAULTS) == f"+{phrase}"
    assert fts5_query([word], DEFAULTS) == phrase


def test_every_word_is_required():
    assert boolean_mode_query(["see", "you", "soon"], DEFAULTS) == '+"see" +"you" +"soon"'
    assert fts5_query(["see", "you", "soon"], DEFAULTS) == '"see" "you" "soon"'


def test_words_the_index_does_not_hold_are_left_out():
    words = ["hi", "the", "bob", "+", "an", "***"]
    assert boolean_mode_query(words, DEFAULTS) == '+"bob"'


def test_a_word_is_kept_when_one_of_its_parts_is_indexed():
    # "the-cat": "the" is a stop word, "cat" is not; the phrase keeps both.
    assert boolean_mode_query(["the-cat"], DEFAULTS) == '+"the cat"'


@pytest.mark.parametrize("words", [["hi"], ["the", "to", "of"], ["+", '"', "()"], ["🙂"]])
def test_no_indexed_word_left_is_an_error(words):
    with pytest.raises(NoIndexedWordError):
        boolean_mode_query(words, DEFAULTS)
    with pytest.raises(NoIndexedWordError):
        fts5_query(words, DEFAULTS)


def test_stop_words_match_in_any_case():
    with pytest.raises(NoIndexedWordError):
        boolean_mode_query(["The", "WITH"], DEFAULTS)


def test_the_rule_follows_the_server_settings():
    rule = IndexedWords(min_length=2, stopwords=frozenset({"bob"}))
    assert boolean_mode_query(["hi", "bob", "ann"], rule) == '+"hi" +"ann"'


def test_mariadb_reports_innodb_defaults(mariadb_app):
    """The defaults SQLite follows are what a stock server uses."""
    with mariadb_app.app_context(), db.engine.connect() as connection:
        rule = read_indexed_words(connection)
    assert rule.min_length == INNODB_MIN_TOKEN_SIZE
    assert rule.stopwords == INNODB_DEFAULT_STOPWORDS

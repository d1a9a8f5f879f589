"""text_search.py: a user's words become quoted phrases, whatever characters they hold."""

from __future__ import annotations

import re

import pytest

from messaging.extensions import db
from messaging.text_search import (
    INNODB_DEFAULT_STOPWORDS,
    INNODB_MIN_TOKEN_SIZE,
    IndexedWords,
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
def test_no_indexed_word_left_is_an_empty_query(words):
    assert boolean_mode_query(words, DEFAULTS) == ""
    assert fts5_query(words, DEFAULTS) == ""


def test_stop_words_match_in_any_case():
    assert boolean_mode_query(["The", "WITH"], DEFAULTS) == ""


def test_the_rule_follows_the_server_settings():
    rule = IndexedWords(min_length=2, stopwords=frozenset({"bob"}))
    assert boolean_mode_query(["hi", "bob", "ann"], rule) == '+"hi" +"ann"'


def test_mariadb_reports_innodb_defaults(mariadb_app):
    """The defaults SQLite follows are what a stock server uses."""
    with mariadb_app.app_context(), db.engine.connect() as connection:
        rule = read_indexed_words(connection)
    assert rule.min_length == INNODB_MIN_TOKEN_SIZE
    assert rule.stopwords == INNODB_DEFAULT_STOPWORDS


# --- GET /v1/search?q=… on both backends -------------------------------------------------


def found(client, query: str) -> list[str]:
    response = client.get(f"/v1/search?{query}")
    assert response.status_code == 200, response.get_json()
    return [message["message_text"] for message in response.get_json()]


def search_error(client, query: str) -> dict:
    response = client.get(f"/v1/search?{query}")
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    return response.get_json()


@pytest.fixture
def texts(create):
    """Messages in accounts 1 and 2, created in this order (so the last is the newest)."""
    made = {}
    for account_id, message_text in [
        (1, "Your parcel arrives Tuesday"),
        (1, "Parcel delayed: new date Friday"),
        (2, "parcel for account two"),
        (1, "Lunch at the café?"),
        (1, "hi bob, send the e-mail"),
        (1, "don't forget the foo_bar report"),
        (1, None),
    ]:
        made[message_text] = create(account_id=account_id, message_text=message_text)
    return made


def test_search_finds_a_word_newest_first_in_any_case(client, texts):
    assert found(client, "q=PARCEL") == [
        "parcel for account two",
        "Parcel delayed: new date Friday",
        "Your parcel arrives Tuesday",
    ]


def test_search_requires_every_word(client, texts):
    assert found(client, "q=parcel+friday") == ["Parcel delayed: new date Friday"]
    assert found(client, "q=parcel+lunch") == []


def test_search_folds_accents(client, texts):
    assert found(client, "q=cafe") == ["Lunch at the café?"]
    assert found(client, "q=CAFÉ") == ["Lunch at the café?"]


def test_search_joins_the_other_filters(client, texts):
    assert found(client, "q=parcel&account_id=2") == ["parcel for account two"]
    assert found(client, "q=parcel&account_id=1,3") == [
        "Parcel delayed: new date Friday",
        "Your parcel arrives Tuesday",
    ]
    first = texts["Your parcel arrives Tuesday"]
    assert found(client, f"q=parcel&message_id={first['message_id']}") == [
        "Your parcel arrives Tuesday"
    ]
    assert found(client, "q=parcel&sender_number=%2B15550000000") == []
    assert found(client, "q=parcel&created_after=2999-01-01T00:00:00Z") == []


def test_search_pages_through_link_headers(client, texts):
    response = client.get("/v1/search?q=parcel&limit=2")
    assert [m["message_text"] for m in response.get_json()] == [
        "parcel for account two",
        "Parcel delayed: new date Friday",
    ]
    next_url = response.headers["Link"].split(">")[0].lstrip("<")
    assert "q=parcel" in next_url
    following = client.get(next_url)
    assert [m["message_text"] for m in following.get_json()] == ["Your parcel arrives Tuesday"]
    assert "Link" not in following.headers


@pytest.mark.parametrize(
    "q",
    [
        "%2Bparcel",  # +parcel
        "-parcel",
        "parcel*",
        "%22parcel",  # "parcel
        "parcel%22",
        "(parcel)",
        "~parcel",
        "%3Cparcel%3E",  # <parcel>
        "%40parcel",  # @parcel
        "%22parcel%22%40",  # "parcel"@
        "parcel%5C",  # parcel\
        "parcel:",
        "parcel)",
        "^parcel",
    ],
)
def test_operator_characters_in_q_are_text(client, texts, q):
    """Each spelling asks for the word "parcel", and nothing else, on both engines."""
    assert found(client, f"q={q}") == found(client, "q=parcel")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("-lunch+parcel", []),
        ("parcel+-friday", ["Parcel delayed: new date Friday"]),
        ("parcel+%2B-friday", ["Parcel delayed: new date Friday"]),
    ],
)
def test_a_minus_never_excludes(client, texts, q, expected):
    """ "-friday" is the word "friday", required like the others."""
    assert found(client, f"q={q}") == expected


def test_operators_alone_match_no_message(client, texts):
    assert found(client, "q=%2B+-+*+%22+%40+~+%3C+%3E+(+)") == []


def test_punctuated_words_match_as_written(client, texts):
    assert found(client, "q=e-mail") == ["hi bob, send the e-mail"]
    assert found(client, "q=don't") == ["don't forget the foo_bar report"]
    assert found(client, "q=foo_bar") == ["don't forget the foo_bar report"]
    assert found(client, "q=foo") == []


def test_short_and_stop_words_are_left_out(client, texts):
    """ "hi" is shorter than the index's 3 characters, "the" a stop word: "bob" decides."""
    assert found(client, "q=hi+the+bob") == ["hi bob, send the e-mail"]


def test_query_syntax_words_are_plain_words(client, texts, create):
    create(message_text="near parcel 8 or not")
    assert found(client, "q=NEAR(parcel") == ["near parcel 8 or not"]
    assert found(client, "q=%22parcel%22%408") == ["near parcel 8 or not"]
    assert found(client, "q=parcel+OR+lunch") == []
    assert found(client, "q=parcel+NOT+near") == ["near parcel 8 or not"]


@pytest.mark.parametrize("q", ["hi", "the", "to+be+or+an", "A+an"])
def test_a_search_of_only_short_or_stop_words_matches_no_message(client, texts, q):
    assert found(client, f"q={q}") == []


@pytest.mark.parametrize("q", ["", "+", "%20%20", "%09"])
def test_empty_q_is_422(client, q):
    assert "q" in search_error(client, f"q={q}")["errors"]


def test_q_of_200_characters_and_10_words_is_accepted(client, texts):
    words = ["parcel"] + [f"w{n:03d}" for n in range(9)]
    q = " ".join(words)
    q += "x" * (200 - len(q))
    assert len(q) == 200
    assert found(client, f"q={q}") == []


def test_q_over_200_characters_is_422(client):
    assert "q" in search_error(client, f"q={'x' * 201}")["errors"]


def test_q_over_10_words_is_422(client):
    assert "q" in search_error(client, f"q={'+'.join(['parcel'] * 11)}")["errors"]


def test_q_is_not_logged(client, texts, log_file):
    client.get("/v1/search?q=supersecretword")
    assert "supersecretword" not in log_file.read_text()


def test_an_account_key_searches_only_its_own_account(app, client, runner):
    app.config["AUTH_ENABLED"] = True
    tokens = {}
    for account_id in (1, 2):
        result = runner.invoke(args=["api-key", "create", "--account-id", str(account_id)])
        assert result.exit_code == 0, result.output
        tokens[account_id] = {"Authorization": f"Bearer {result.output.split()[-1]}"}
    for account_id, message_text in [(1, "parcel one"), (2, "parcel two")]:
        response = client.post(
            "/v1/create",
            json={
                "account_id": account_id,
                "sender_number": "+15551230001",
                "receiver_number": "+15559870001",
                "message_text": message_text,
            },
            headers=tokens[account_id],
        )
        assert response.status_code == 200

    def texts_for(account_id, query):
        response = client.get(f"/v1/search?{query}", headers=tokens[account_id])
        assert response.status_code == 200
        return [message["message_text"] for message in response.get_json()]

    assert texts_for(1, "q=parcel") == ["parcel one"]
    assert texts_for(2, "q=parcel") == ["parcel two"]
    assert texts_for(1, "q=parcel&account_id=2") == []


def test_q_is_in_the_openapi_document(client):
    parameters = client.get("/openapi.json").get_json()["paths"]["/v1/search"]["get"]["parameters"]
    (q,) = [parameter for parameter in parameters if parameter["name"] == "q"]
    assert q["schema"]["maxLength"] == 200
    assert "10 words" in q["description"]

"""Keyset pages: cursors, the Link header, and walking a list to its end."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from messaging import create_app
from messaging.pagination import InvalidCursorError, decode_cursor, encode_cursor

MESSAGE = {"account_id": 5, "sender_number": "+15551230005", "receiver_number": "+15559870005"}

LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def next_url(response) -> str | None:
    header = response.headers.get("Link")
    if header is None:
        return None
    match = LINK.match(header)
    assert match, header
    return match["url"]


def walk(client, url: str) -> tuple[list[dict], int]:
    """Every message of a list, following Link headers; and how many pages it took."""
    seen, pages = [], 0
    while url:
        parts = urlsplit(url)
        response = client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)
        assert response.status_code == 200, response.get_json()
        seen.extend(response.get_json())
        pages += 1
        url = next_url(response)
    return seen, pages


@pytest.mark.parametrize("last_id", [1, 42, 2**63 - 1])
def test_cursor_round_trips(last_id):
    token = encode_cursor(last_id)
    assert str(last_id) not in token  # opaque, not a bare number
    assert decode_cursor(token) == last_id


@pytest.mark.parametrize(
    "token",
    ["", "abc", "!!!", encode_cursor(5)[:-1] + "$", "aWQ6LTE", encode_cursor(2**63)],
)
def test_foreign_cursors_are_refused(token):
    with pytest.raises(InvalidCursorError):
        decode_cursor(token)


def test_walks_every_page_without_duplicates_or_gaps(client, create):
    made = [create(account_id=3)["message_id"] for _ in range(23)]
    create(account_id=4)

    seen, pages = walk(client, "/v1/get/messages/3?limit=5")

    assert pages == 5
    assert [m["message_id"] for m in seen] == made[::-1]


def test_last_full_page_has_no_link(client, create):
    for _ in range(4):
        create(account_id=3)
    seen, pages = walk(client, "/v1/get/messages/3?limit=2")
    assert (len(seen), pages) == (4, 2)  # the second, full page carried no Link


def test_pages_are_stable_when_messages_arrive_between_them(client, create):
    older = [create(account_id=8)["message_id"] for _ in range(6)]
    first = client.get("/v1/get/messages/8?limit=3")
    newer = [create(account_id=8)["message_id"] for _ in range(5)]

    rest, _ = walk(client, next_url(first))

    assert [m["message_id"] for m in first.get_json()] == older[:2:-1]
    assert [m["message_id"] for m in rest] == older[2::-1]
    listed_again, _ = walk(client, "/v1/get/messages/8?limit=4")
    assert [m["message_id"] for m in listed_again] == (older + newer)[::-1]


def test_link_keeps_the_other_parameters_and_never_names_the_host_sent(client, create):
    for _ in range(3):
        create(sender_number="111111", receiver_number="222222")
    response = client.get(
        "/v1/search?sender_number=111111,333333&receiver_number=222222&limit=2",
        headers={"Host": "evil.example"},
    )
    url = next_url(response)
    parts = urlsplit(url)
    # Neither PUBLIC_URL nor TRUSTED_HOSTS: a relative reference, resolved by the client.
    assert (parts.scheme, parts.netloc, parts.path) == ("", "", "/v1/search")
    query = parse_qs(parts.query)
    assert query["sender_number"] == ["111111,333333"]
    assert query["receiver_number"] == ["222222"]
    assert query["limit"] == ["2"]
    assert decode_cursor(query["cursor"][0]) > 0


def test_search_pages_walk_to_the_end(client, create):
    made = [create(sender_number=("111111", "222222")[n % 2])["message_id"] for n in range(11)]
    create(sender_number="999999")
    seen, pages = walk(client, "/v1/search?sender_number=111111,222222&limit=4")
    assert pages == 3
    assert [m["message_id"] for m in seen] == made[::-1]


def test_default_page_is_100(client, create):
    for _ in range(101):
        create(account_id=9)
    response = client.get("/v1/get/messages/9")
    assert len(response.get_json()) == 100
    assert next_url(response)


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "ten", "1_0", "+10", " 10", "١٠", "１０"])
def test_limit_out_of_range_is_refused(client, limit):
    response = client.get(f"/v1/get/messages/1?limit={quote(limit)}")
    assert response.status_code == 422
    assert "limit" in response.get_json()["errors"]


def test_limit_of_1000_is_accepted(client):
    assert client.get("/v1/get/messages/1?limit=1000").status_code == 200


def test_bad_cursor_is_a_validation_error(client):
    response = client.get("/v1/get/messages/1?cursor=not-ours")
    assert response.status_code == 422
    assert "cursor" in response.get_json()["errors"]


@pytest.mark.parametrize(
    ("settings", "origin"),
    [
        ({"PUBLIC_URL": "https://api.example.com"}, "https://api.example.com"),
        ({"TRUSTED_HOSTS": ["api.example.com"]}, "http://api.example.com"),
    ],
)
def test_link_is_absolute_from_the_public_url_or_a_trusted_host(
    database_url, log_file, settings, origin
):
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "LOG_FILE": str(log_file)}
        | settings
    )
    client = app.test_client()
    trusted = {"Host": "api.example.com"}
    for _ in range(2):
        assert client.post("/v1/create", json=MESSAGE, headers=trusted).status_code == 200
    response = client.get("/v1/get/messages/5?limit=1", headers=trusted)
    assert next_url(response).startswith(f"{origin}/v1/get/messages/5?limit=1&cursor=")
    if "PUBLIC_URL" in settings:
        response = client.get("/v1/get/messages/5?limit=1", headers={"Host": "evil.example"})
        assert next_url(response).startswith(f"{origin}/v1/")
    else:
        assert client.get("/v1/get/messages/5", headers={"Host": "evil.example"}).status_code == 400


def test_empty_cursor_is_a_validation_error_that_says_so(client):
    response = client.get("/v1/search?cursor=")
    assert response.status_code == 422
    assert "first page" in response.get_json()["errors"]["cursor"][0]


def test_forged_cursor_beyond_the_largest_id_is_a_validation_error(client):
    forged = encode_cursor(2**64 - 1)
    for path in ("/v1/search", "/v1/get/messages/1"):
        response = client.get(f"{path}?cursor={forged}")
        assert response.status_code == 422
        assert "cursor" in response.get_json()["errors"]

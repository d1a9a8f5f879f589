"""request_log.py: every request's id, taken or made and echoed, and its one access line."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import TEXT_LINE, read_lines

pytestmark = pytest.mark.database_agnostic


def test_one_access_line_per_request_with_status_duration_and_id(client, log_file):
    response = client.get("/v1/get/messages/77?limit=5", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    access = [
        TEXT_LINE.match(line) for line in read_lines(log_file) if " messaging.access " in line
    ]
    assert len(access) == 1
    assert access[0]["request_id"] == "abc-123"
    assert re.fullmatch(
        r'GET /v1/get/messages/77 200 \d+\.\dms 127\.0\.0\.1 "Werkzeug/\S+"', access[0]["message"]
    )


def test_request_id_is_made_when_missing_or_invalid(client):
    made = client.get("/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    for bad in ("has space", "x" * 129, "tab\tid"):
        echoed = client.get("/health", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert echoed != bad
        assert re.fullmatch(r"[0-9a-f]{32}", echoed)


def lines_with(log_file: Path, marker: str) -> list[str]:
    return [line for line in log_file.read_text().splitlines() if marker in line]


@pytest.mark.parametrize("app_config", [{"LOG_LEVEL": "DEBUG"}])
def test_request_id_from_header_is_echoed_and_on_every_line_of_the_request(
    client, create, log_file
):
    response = client.post(
        "/v1/create",
        json={"account_id": 3, "sender_number": "+15551230001", "receiver_number": "+15559870001"},
        headers={"X-Request-ID": "order-7f3a:retry=2"},
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "order-7f3a:retry=2"
    tagged = lines_with(log_file, "[order-7f3a:retry=2]")
    assert len(tagged) == 2
    assert " messaging.create DEBUG " in tagged[0]
    assert " messaging.access INFO " in tagged[1]


def test_request_id_of_128_printable_characters_is_kept(client):
    given = "r" * 127 + "~"
    assert client.get("/health", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given


def test_access_line_is_the_only_line_naming_the_path(client, create, log_file):
    create(sender_number="+15551234567", receiver_number="+15557654321")
    assert client.get("/v1/search?sender_number=%2B15551234567").status_code == 200
    lines = log_file.read_text().splitlines()
    access = [line for line in lines if " messaging.access " in line]
    assert len(access) == 2
    assert re.search(r"\] POST /v1/create 200 \d+\.\dms \S+ \"[^\"]*\"$", access[0])
    # The query string (it holds phone numbers) is not logged.
    assert re.search(r"\] GET /v1/search 200 \d+\.\dms \S+ \"[^\"]*\"$", access[1])
    assert [line for line in lines if "/v1/" in line and line not in access] == []


def test_path_cannot_forge_or_break_log_lines(client, log_file):
    forged = "2026-01-01T00:00:00.000Z messaging.access INFO [forged] POST /v1/create 200 1.0ms"
    response = client.get("/nowhere%0A" + quote(forged) + "%0D%20x")
    assert response.status_code == 404
    lines = read_lines(log_file)
    assert [line for line in lines if not TEXT_LINE.match(line)] == []
    assert [line for line in lines if "[forged]" in line] == []
    access = [line for line in lines if " messaging.access " in line]
    assert len(access) == 1
    assert re.search(r"\] GET /nowhere%0A\S+%0D%20x 404 \d+\.\dms ", access[0])


def test_access_line_names_the_client_address_and_user_agent(client, log_file):
    client.get(
        "/v1/get/messages/77",
        headers={"User-Agent": "billing-sync/2.1 (+ops)"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    access = [line for line in log_file.read_text().splitlines() if " messaging.access " in line]
    assert len(access) == 1
    assert access[0].endswith(' 192.0.2.7 "billing-sync/2.1 (+ops)"')


def test_user_agent_cannot_break_out_of_its_quotes(client, log_file):
    client.get("/health", headers={"User-Agent": 'evil" 500 \\ 100%'})
    access = [line for line in log_file.read_text().splitlines() if " messaging.access " in line]
    assert len(access) == 1
    assert access[0].endswith(' "evil%22 500 %5C 100%25"')

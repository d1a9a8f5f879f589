"""The scrape endpoint: request metrics and the service's own counters."""

from __future__ import annotations

import re

from messaging.version import __version__


def sample(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match[3])
    return total


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return response.get_data(as_text=True)


def test_metrics_count_created_messages_and_requests(client, create):
    before = scrape(client)
    create()
    create()
    client.post("/v1/create", json={})
    after = scrape(client)

    created = "messaging_messages_created_total"
    assert sample(after, created) - sample(before, created) == 2
    requests = "flask_http_request_total"
    assert (
        sample(after, requests, method="POST", status="200")
        - sample(before, requests, method="POST", status="200")
        == 2
    )
    assert (
        sample(after, requests, method="POST", status="422")
        - sample(before, requests, method="POST", status="422")
        == 1
    )


def test_latency_histogram_is_labelled_by_route_not_path(client):
    client.get("/v1/get/messages/123")
    client.get("/v1/get/messages/456")
    text = scrape(client)
    rule = "/v1/get/messages/<account_id>"
    assert sample(text, "flask_http_request_duration_seconds_count", url_rule=rule) == 2
    assert "/v1/get/messages/123" not in text


def test_build_info_names_the_version_serving(client):
    assert sample(scrape(client), "messaging_build_info", version=__version__) == 1


def series(text: str) -> set[str]:
    """Every sample's name and labels: the series a scrape holds."""
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}


def test_invented_methods_add_no_series(client):
    client.open("/v1/create", method="QQ0")
    client.get("/metrics")
    before = series(scrape(client))
    for number in range(1, 1001):
        response = client.open("/v1/create", method=f"QQ{number}")
        assert response.status_code == 405
    after = scrape(client)
    assert series(after) == before
    assert "QQ" not in after
    assert sample(after, "flask_http_request_total", method="OTHER", status="405") == 1001

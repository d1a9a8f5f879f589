"""The OpenAPI document at /openapi.json and Swagger UI at /docs, which must work offline."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from openapi_spec_validator import validate

from messaging import create_app
from messaging.schemas import SEARCH_VALUES_MAX

pytestmark = pytest.mark.database_agnostic

PROBLEM_REF = "#/components/schemas/Problem"


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


def test_document_lists_every_route(app, document):
    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"):
            continue
        if rule.endpoint.startswith("swagger_ui_assets."):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        served |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served
    assert {
        ("/v1/create", "POST"),
        ("/v1/get/messages/{account_id}", "GET"),
        ("/v1/search", "GET"),
        ("/v1/messages/{message_id}", "GET"),
        ("/v1/messages/{message_id}", "DELETE"),
    } <= documented


def test_errors_are_documented_as_problem_json(document):
    responses = document["components"]["responses"]
    for name in ("UNPROCESSABLE_ENTITY", "NOT_FOUND", "SERVICE_UNAVAILABLE", "DEFAULT_ERROR"):
        content = responses[name]["content"]
        assert list(content) == ["application/problem+json"], name
        assert content["application/problem+json"]["schema"]["$ref"] == PROBLEM_REF
    problem = document["components"]["schemas"]["Problem"]["properties"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem)
    assert "Retry-After" in responses["SERVICE_UNAVAILABLE"]["headers"]
    lookup = document["paths"]["/v1/messages/{message_id}"]
    assert lookup["get"]["responses"]["404"]["$ref"] == "#/components/responses/NOT_FOUND"


def test_each_route_documents_the_errors_it_can_answer(document):
    def refs(path, method):
        return {
            status: response.get("$ref", "").rpartition("/")[2]
            for status, response in document["paths"][path][method]["responses"].items()
        }

    for path, operations in document["paths"].items():
        for method in operations.keys() - {"parameters"}:
            if path.startswith("/v1/"):
                assert refs(path, method)["503"] == "SERVICE_UNAVAILABLE", (method, path)
    create = refs("/v1/create", "post")
    assert {
        "409": "CONFLICT",
        "413": "REQUEST_ENTITY_TOO_LARGE",
        "415": "UNSUPPORTED_MEDIA_TYPE",
        "422": "UNPROCESSABLE_ENTITY",
    }.items() <= create.items()
    assert refs("/v1/messages/{message_id}", "delete")["404"] == "NOT_FOUND"


def test_headers_are_documented(document):
    paths = document["paths"]
    create = paths["/v1/create"]["post"]
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert key["in"] == "header"
    assert key["required"] is False
    assert "Idempotent-Replayed" in create["responses"]["200"]["headers"]
    for path in ("/v1/search", "/v1/get/messages/{account_id}"):
        assert "Link" in paths[path]["get"]["responses"]["200"]["headers"], path
    assert "Link" in document["components"]["headers"]


def test_search_lists_are_comma_separated(document):
    parameters = {p["name"]: p for p in document["paths"]["/v1/search"]["get"]["parameters"]}
    for name in ("message_id", "account_id", "sender_number", "receiver_number"):
        assert parameters[name]["style"] == "form", name
        assert parameters[name]["explode"] is False, name
        assert parameters[name]["schema"]["maxItems"] == SEARCH_VALUES_MAX, name
    for name in ("created_after", "created_before"):
        assert parameters[name]["schema"]["format"] == "date-time"


def test_document_has_examples(document):
    create = document["paths"]["/v1/create"]["post"]
    assert create["requestBody"]["content"]["application/json"]["example"]["account_id"] == 42
    assert "example" in create["responses"]["200"]["content"]["application/json"]


class AssetCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def test_docs_page_loads_only_local_assets(client):
    response = client.get("/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    collector = AssetCollector()
    collector.feed(page)
    assert any(url.endswith("swagger-ui-bundle.js") for url in collector.urls)
    assert any(url.endswith("swagger-ui.css") for url in collector.urls)
    for url in collector.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        with client.get(url) as asset:
            assert asset.status_code == 200, url
            content = asset.get_data(as_text=True)
        assert len(content) > 1000, url
        if url.endswith(".css"):
            # a stylesheet's url() must not reach out either: only inline data
            css = content
            assert "@import" not in css
            for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", css):
                assert target.startswith("data:"), target
    assert "http://" not in page and "https://" not in page
    # Swagger UI would otherwise send the document to an online validator
    assert '"validatorUrl": null' in page
    assert '"/openapi.json"' in page


def test_docs_assets_outside_the_bundle_are_404(client):
    for url in ("/docs/assets/../../../setup.cfg", "/docs/assets/missing.js"):
        with client.get(url) as response:
            assert response.status_code == 404, url


def secured_document():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "LOG_FILE": "", "AUTH_ENABLED": True})
    return app.test_client().get("/openapi.json").get_json()


def test_with_auth_on_v1_routes_document_bearer_keys_and_401():
    document = secured_document()
    validate(document)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["security"] == [{"bearerAuth": []}]
    unauthorized = document["components"]["responses"]["UNAUTHORIZED"]
    assert "WWW-Authenticate" in unauthorized["headers"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            if path.startswith("/v1/"):
                assert "security" not in operation, (method, path)  # the global requirement
                assert "401" in operation["responses"], (method, path)
            else:
                assert operation["security"] == [], (method, path)
    assert "403" in document["paths"]["/v1/create"]["post"]["responses"]


def test_with_auth_off_nothing_asks_for_a_key(document):
    assert "security" not in document
    assert "securitySchemes" not in document["components"]
    for operations in document["paths"].values():
        for method, operation in operations.items():
            assert method == "parameters" or not operation.get("security")

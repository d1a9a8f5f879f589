"""The OpenAPI document at /openapi.json and Swagger UI at /docs, which must work offline."""

from __future__ import annotations

import json
import re
import subprocess
from html.parser import HTMLParser

import pytest
from openapi_spec_validator import validate

from messaging import create_app
from messaging.config import DEFAULT_MAX_CONTENT_LENGTH
from messaging.schemas import SEARCH_VALUES_MAX
from messaging.version import __version__
from tests.servers import REPO_ROOT, VENV_BIN, server_environment

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
    delete = refs("/v1/messages/{message_id}", "delete")
    assert {"404": "NOT_FOUND", "409": "CONFLICT"}.items() <= delete.items()


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


def secured_app():
    return create_app(
        {"SQLALCHEMY_DATABASE_URI": "sqlite://", "LOG_FILE": "", "AUTH_ENABLED": True}
    )


def secured_document():
    return secured_app().test_client().get("/openapi.json").get_json()


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


def test_info_version_is_the_package_version(document):
    assert document["info"]["version"] == __version__


def test_no_schema_the_api_does_not_use(document):
    assert "PaginationMetadata" not in document["components"]["schemas"]


def test_message_ids_are_documented_as_uuids(document):
    assert document["components"]["schemas"]["Message"]["properties"]["message_id"]["format"] == (
        "uuid"
    )
    lookup = document["paths"]["/v1/messages/{message_id}"]["parameters"]
    assert [p["schema"]["format"] for p in lookup if p["name"] == "message_id"] == ["uuid"]
    search = document["paths"]["/v1/search"]["get"]["parameters"]
    ids = next(p for p in search if p["name"] == "message_id")
    assert ids["schema"]["items"]["format"] == "uuid"


def example_values(parameter: dict) -> list:
    """Every value Swagger UI could pre-fill a parameter with on "Try it out"."""
    schema = parameter.get("schema", {})
    found = [parameter.get("example"), schema.get("example"), schema.get("default")]
    found += [schema.get("items", {}).get("example"), *parameter.get("examples", {}).values()]
    return [value for value in found if value is not None]


def test_try_it_out_fills_in_no_optional_filter_and_no_idempotency_key(document):
    search = document["paths"]["/v1/search"]["get"]["parameters"]
    prefilled = {p["name"]: example_values(p) for p in search if example_values(p)}
    # The page size has a default the service applies anyway; no filter is pre-filled.
    assert prefilled == {"limit": [100]}
    create = document["paths"]["/v1/create"]["post"]["parameters"]
    key = next(p for p in create if p["name"] == "Idempotency-Key")
    assert example_values(key) == []


def test_docs_link_deeply_and_show_request_durations(client):
    page = client.get("/docs").get_data(as_text=True)
    assert '"deepLinking": true' in page
    assert '"displayRequestDuration": true' in page


@pytest.fixture
def documented_errors(document):
    return {
        name: response["content"]["application/problem+json"]["example"]
        for name, response in document["components"]["responses"].items()
        if "example" in response.get("content", {}).get("application/problem+json", {})
    }


def test_error_examples_are_what_the_service_answers(client, document, documented_errors):
    assert "see authorization schemes" not in str(documented_errors)
    missing = "019ab6c4-7d2e-7c41-9a57-3f1e2d4c5b6a"
    answered = {
        "NOT_FOUND": client.get(f"/v1/messages/{missing}"),
        "UNSUPPORTED_MEDIA_TYPE": client.post(
            "/v1/create", data="account_id=1", content_type="text/plain"
        ),
        "REQUEST_ENTITY_TOO_LARGE": client.post(
            "/v1/create",
            data="x" * (DEFAULT_MAX_CONTENT_LENGTH + 1),
            content_type="application/json",
        ),
    }
    for name, response in answered.items():
        assert response.get_json()["detail"] == documented_errors[name]["detail"], name
    unauthorized = secured_app().test_client().get("/v1/search")
    assert unauthorized.get_json()["detail"] == documented_errors["UNAUTHORIZED"]["detail"]


def test_flask_openapi_print_gives_the_document_the_service_serves(document, tmp_path):
    printed = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "messaging", "openapi", "print"],
        cwd=REPO_ROOT,
        env=server_environment({"LOG_FILE": "", "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == document

"""Fuzzing: schemathesis sends generated requests built from our own OpenAPI document.

Every response must be no 5xx and match what the document says: its status
codes, content types, headers and body schemas. Requests that fit the document
and requests that break it are both sent, with API keys off and on.
``FUZZ_EXAMPLES`` sets how many of each an operation gets; ``make fuzz`` sends
many more than the suite does.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from sqlalchemy import delete

from messaging import api_keys
from messaging.extensions import db
from messaging.models import Message

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))


@pytest.fixture(params=[False, True], ids=["auth-off", "auth-on"])
def app_config(request):
    # Room for the largest batch the document allows, as a deployment taking batches sets
    # (README): a bigger body would be a 413 before the schema could refuse it.
    return {"AUTH_ENABLED": request.param, "MAX_CONTENT_LENGTH": 32 * 1024 * 1024}


def operations(app):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_answers_generated_requests_as_documented(app, mode):
    headers = {}
    if app.config["AUTH_ENABLED"] and mode is GenerationMode.POSITIVE:
        # An admin key, so valid requests reach the routes; schemathesis itself checks that
        # requests without it, or with a made-up one, are refused. Invalid requests go
        # without it: leaving out the required header is one of the ways they break the rules.
        with app.app_context():
            headers = {"Authorization": f"Bearer {api_keys.create_api_key(None)[1]}"}
    tested = []
    for operation in operations(app):
        takes_input = operation.query or operation.path_parameters or operation.headers
        if mode is GenerationMode.NEGATIVE and not (takes_input or operation.body):
            continue  # nothing to get wrong

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case):
            # Each example starts from an empty table: an idempotency key that an earlier
            # example spent on another body is a correct 422, not a finding.
            with app.app_context():
                db.session.execute(delete(Message))
                db.session.commit()
            if mode is GenerationMode.POSITIVE and case.query:
                # A cursor is valid only when the service made it; the pagination tests
                # follow real ones. Here it would only ever be a correct 422.
                case.query.pop("cursor", None)
            case.call_and_validate(headers=headers)

        answers_as_documented()
        tested.append(operation.label)
    assert "POST /v1/create" in tested

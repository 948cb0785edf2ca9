"""The ingest fuzzed from its own OpenAPI (schemathesis): generated and mutated bodies and
query strings on every route, with and without a valid token. No input gets a 5xx; every
refusal is a 4xx with a reason (and a dead letter for a body that was not a read)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from connectors.ingest.app import create_ingest_app
from connectors.kafka.sink import MemorySink
from tests.fuzz import EXAMPLES
from tests.unit.connectors.test_ingest import AUTH, SETTINGS

SINK = MemorySink()
APP = create_ingest_app(SETTINGS, SINK)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500


@schema.parametrize()
@settings(
    max_examples=max(EXAMPLES // 4, 10), deadline=None, suppress_health_check=list(HealthCheck)
)
def test_without_a_token_every_post_is_refused(case: schemathesis.Case) -> None:
    response = case.call()
    if case.method.upper() == "POST" and case.path.startswith("/v1/"):
        assert response.status_code == 401
    assert response.status_code < 500

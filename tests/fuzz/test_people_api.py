"""The people's API fuzzed from its own OpenAPI (schemathesis), on memory stores: every
route, with a session of a person who searches and audits and without one. No input
gets a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from schemas.people import Role
from tests.fuzz import EXAMPLES
from tests.unit.pipelines.api.harness import A, Api, bearer, read

API = Api(Path(tempfile.mkdtemp(prefix="lprx-fuzz-api-")))
API.store.reads += [read("a1", "KRT417", A, 10), read("a2", "KRT411", A, 20)]
# Roles whose routes read the memory stores only (administration publishes to Kafka).
AUTH = bearer(API.person("fuzz.person", A, Role.INVESTIGATOR, Role.SUPERVISOR, Role.AUDITOR))
schema = schemathesis.openapi.from_asgi("/openapi.json", API.client.app)
FEW = max(EXAMPLES // 10, 5)


@schema.parametrize()
@settings(max_examples=FEW, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500


@schema.parametrize()
@settings(max_examples=FEW, deadline=None, suppress_health_check=list(HealthCheck))
def test_without_a_session_only_the_open_routes_answer(case: schemathesis.Case) -> None:
    response = case.call()
    # /public/ is open by law (the log of use): it answers, never with a 5xx.
    open_route = case.path in ("/health", "/readyz", "/v1/login")
    if not open_route and not case.path.startswith("/public/"):
        # 405: schemathesis also tries methods a route does not have.
        assert response.status_code in (401, 405), response.status_code
    assert response.status_code < 500

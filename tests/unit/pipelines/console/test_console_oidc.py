"""The console's provider login without a provider: the PKCE challenge, and odd answers
(a made-up provider, a missing or forged pending cookie) refused as pages, audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from connectors.identity.code_flow import s256_challenge
from schemas.records import AuditOutcome
from tests.unit.pipelines.api.harness import Api


def test_the_s256_challenge_is_rfc_7636s() -> None:
    # RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize("cookie", [None, "", "not base64 !", "eyJ4IjogMX0=", "bnVsbA=="])
def test_a_callback_without_its_login_is_a_refusal_page(tmp_path: Path, cookie: str | None) -> None:
    api = Api(tmp_path)
    browser = TestClient(api.client.app, base_url="https://testserver", follow_redirects=False)
    if cookie is not None:
        browser.cookies.set("lprx_oidc", cookie, path="/console/oidc")
    answer = browser.get("/console/oidc/callback", params={"code": "c", "state": "s"})
    assert answer.status_code == 403 and "start it again" in answer.text
    assert "lprx_session" not in browser.cookies
    assert api.trail.events[-1].outcome is AuditOutcome.DENIED


def test_no_provider_no_button_and_no_start(tmp_path: Path) -> None:
    api = Api(tmp_path)
    assert 'id="providers"' not in api.client.get("/console/login").text
    answer = api.client.get("/console/oidc/start", params={"provider": 3},
                            follow_redirects=False)  # fmt: skip
    assert answer.status_code == 404 and "no such provider" in answer.text

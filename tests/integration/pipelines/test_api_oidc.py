"""The API taking an agency's Keycloak access token as its person: agency and roles from
the token's claims, scoped like any other person (real Keycloak; memory stores)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from connectors.identity.keycloak import AUDIENCE_CLIENT, KeycloakAdmin
from pipelines.api.app import create_api_app
from pipelines.api.deps import ApiServices
from pipelines.identity.auth import Authenticator
from pipelines.settings import Settings
from schemas.records import AuditOutcome
from tests.integration.connectors.test_oidc_keycloak import Realm, verifier_for
from tests.unit.pipelines.api.harness import NOW, Api, read

WHY = {"purpose": "criminal_investigation", "case_number": "26-000888",
       "factual_basis": "Vehicle seen leaving the scene of a burglary by a witness."}  # fmt: skip


def test_a_keycloak_token_is_a_person_of_its_agency_with_its_roles(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm], tmp_path: Path
) -> None:
    realm = realms[0]  # agency MN0270100, roles investigator and supervisor
    api = Api(tmp_path)
    api.store.reads += [
        read("own", "OID417", "MN0270100", 5),
        read("other", "OID417", "MN0620000", 4),
    ]
    verifier = verifier_for(keycloak, admin.issuer(realm.name))
    services = ApiServices(api.settings, Authenticator(api.identity, verifier), api.trail,
                           api.book, api.store)  # fmt: skip
    client = TestClient(create_api_app(services))
    token = admin.password_grant(realm.name, AUDIENCE_CLIENT, realm.username, realm.password,
                                 realm.lprx_secret)  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}

    me = client.get("/v1/me", headers=headers).json()
    assert (me["username"], me["agency_ori"], me["via"]) == ("jdoe", "MN0270100", "oidc")
    assert set(me["roles"]) == {"investigator", "supervisor"}
    window = {"start": (NOW - timedelta(hours=1)).isoformat(),
              "end": (NOW + timedelta(minutes=1)).isoformat()}  # fmt: skip
    found = client.post("/v1/reads/search", headers=headers,
                        json={**WHY, **window, "plate": "OID417"})  # fmt: skip
    assert [r["read_id"] for r in found.json()["reads"]] == ["own"]  # no agreement: own only
    assert api.trail.events[-1].actor == "jdoe"
    # A supervisor from the provider is no administrator.
    assert client.post("/v1/hotlists", headers=headers,
                       json={"list_id": "x", "source": "y", "content": ""}).status_code == 403  # fmt: skip
    # A tampered token is refused, and the refusal audited.
    tampered = {"Authorization": f"Bearer {token[:-4]}AAAA"}
    assert client.get("/v1/me", headers=tampered).status_code == 401
    assert api.trail.events[-1].outcome is AuditOutcome.DENIED

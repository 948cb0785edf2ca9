"""The console's login with an agency's real Keycloak: the authorization code flow with
PKCE, the provider's own login page filled in as a browser would (httpx), the code
redeemed once for its browser only, the person's agency and roles from the token."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi.testclient import TestClient

from connectors.identity import OidcProviders
from connectors.identity.keycloak import KeycloakAdmin
from connectors.servers.keycloak_server import KeycloakServer
from pipelines.api.app import create_api_app
from pipelines.api.deps import ApiServices
from pipelines.identity.auth import Authenticator
from pipelines.settings import Settings
from schemas.records import AuditOutcome
from tests.integration.connectors.test_oidc_keycloak import Realm
from tests.unit.pipelines.api.harness import Api

BASE = "https://testserver"
CALLBACK = f"{BASE}/console/oidc/callback"
CONSOLE_CLIENT = "lprx-console"


def login_form_action(page: str) -> str:
    form = next(f for f in re.findall(r"<form[^>]*>", page) if "kc-form-login" in f)
    found = re.search(r'action="([^"]+)"', form)
    assert found is not None, form
    return html.unescape(found.group(1))


def test_a_person_logs_in_to_the_console_at_their_agencys_keycloak(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm], tmp_path: Path
) -> None:
    realm = realms[0]  # agency MN0270100, roles investigator and supervisor
    admin.ensure_console_client(realm.name, CONSOLE_CLIENT, CALLBACK)
    ca_file = KeycloakServer(keycloak).ca_file
    api = Api(tmp_path)
    settings = api.settings.model_copy(update={
        "oidc_issuer": admin.issuer(realm.name), "oidc_ca_file": ca_file,
        "oidc_console_client_id": CONSOLE_CLIENT, "oidc_console_label": "Lakeside login",
    })  # fmt: skip
    auth = Authenticator(api.identity, OidcProviders.from_config(settings))
    app = create_api_app(ApiServices(settings, auth, api.trail, api.book, api.store))
    browser = TestClient(app, base_url=BASE, follow_redirects=False)

    assert "Lakeside login" in browser.get("/console/login").text
    start = browser.get("/console/oidc/start", params={"provider": 0, "next": "/console/search"})
    assert start.status_code == 303, start.text
    asked = parse_qs(urlsplit(start.headers["location"]).query)
    assert (asked["client_id"], asked["code_challenge_method"]) == ([CONSOLE_CLIENT], ["S256"])
    assert "code_verifier" not in asked  # the verifier stays with the browser's cookie

    # Keycloak's own login page, filled in and sent as the person's browser would.
    with httpx.Client(verify=str(ca_file), follow_redirects=False, timeout=30) as idp:
        page = idp.get(start.headers["location"])
        assert page.status_code == 200, page.text[:500]
        sent = idp.post(login_form_action(page.text), data={
            "username": realm.username, "password": realm.password.get_secret_value(),
            "credentialId": "",
        })  # fmt: skip
    assert sent.status_code == 302, sent.text[:500]
    back = sent.headers["location"]
    assert back.startswith(f"{CALLBACK}?") and "code=" in back
    path = back.removeprefix(BASE)

    # Another browser, which started no login, cannot use the code; nor this browser
    # with another state.
    stranger = TestClient(app, base_url=BASE, follow_redirects=False)
    assert stranger.get(path).status_code == 403
    forged = re.sub(r"state=[^&]+", "state=forged", path)
    assert browser.get(forged).status_code == 401
    assert api.trail.events[-1].outcome is AuditOutcome.DENIED
    # The refusal cleared the pending login: start again, and come back with its answer.
    restarted = browser.get("/console/oidc/start", params={"next": "/console/search"})
    with httpx.Client(verify=str(ca_file), follow_redirects=False, timeout=30) as idp:
        page = idp.get(restarted.headers["location"])
        sent = idp.post(login_form_action(page.text), data={
            "username": realm.username, "password": realm.password.get_secret_value(),
            "credentialId": "",
        })  # fmt: skip
    done = browser.get(sent.headers["location"].removeprefix(BASE))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/console/search"
    login = api.trail.events[-1]
    assert (login.actor, login.actor_agency_ori, login.outcome) == (
        "jdoe", "MN0270100", AuditOutcome.SUCCESS,
    )  # fmt: skip
    cookies = done.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("lprx_session="))
    assert "HttpOnly" in session and "Secure" in session and "SameSite=strict" in session
    assert any(c.startswith("lprx_oidc=") and "Max-Age=0" in c for c in cookies)
    search = browser.get("/console/search")
    assert search.status_code == 200 and "jdoe" in search.text

"""The console's login at an agency's Keycloak in a real headless Chromium: the login
page's button, Keycloak's own login page, and back to the console as the person of
the token (``lprx api`` over HTTPS on the real servers). Screenshots in
``tests-artifacts/console/``."""

from __future__ import annotations

from playwright.sync_api import expect

from connectors.cassandra import connect
from connectors.identity.keycloak import KeycloakAdmin
from connectors.servers.keycloak_server import KeycloakServer
from pipelines.settings import Settings
from tests.conftest import provision, unique_settings
from tests.integration.connectors.test_oidc_keycloak import Realm
from tests.integration.pipelines.browser import chromium, screenshot_path
from tests.integration.pipelines.served import served_api

CONSOLE_CLIENT = "lprx-console"


def test_a_person_logs_in_to_the_console_at_keycloak_in_chromium(
    servers: Settings, keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    realm = realms[0]  # jdoe of MN0270100, investigator and supervisor
    settings = provision(unique_settings(servers, topic_partitions=1)).model_copy(update={
        "oidc_issuer": admin.issuer(realm.name), "oidc_ca_file": KeycloakServer(keycloak).ca_file,
        "oidc_console_client_id": CONSOLE_CLIENT, "oidc_console_label": "Lakeside login",
    })  # fmt: skip
    try:
        with served_api(settings) as url, chromium() as browser:
            admin.ensure_console_client(realm.name, CONSOLE_CLIENT, f"{url}/console/oidc/callback")
            context = browser.new_context(ignore_https_errors=True)
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.goto(f"{url}/console/search")
            expect(page).to_have_url(f"{url}/console/login?next=/console/search")
            page.click("#oidc-0")
            expect(page.locator("#kc-form-login")).to_be_visible(timeout=30_000)
            page.screenshot(path=screenshot_path("oidc-1-keycloak-login"))
            page.fill("#username", realm.username)
            page.fill("#password", realm.password.get_secret_value())
            page.click("#kc-login")
            expect(page).to_have_url(f"{url}/console/search", timeout=30_000)
            expect(page.locator("header")).to_contain_text("jdoe")
            page.screenshot(path=screenshot_path("oidc-2-console-as-jdoe"))
            session = next(c for c in context.cookies() if c["name"] == "lprx_session")
            assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"
            assert not [c for c in context.cookies() if c["name"] == "lprx_oidc"]
            context.close()
    finally:
        cluster, session_ = connect(settings)
        try:
            session_.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
        finally:
            cluster.shutdown()

"""How lprx starts Keycloak and maps claims into its tokens (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.identity.keycloak import AGENCY_ATTRIBUTE, ROLES_CLAIM, agency_mappers
from connectors.identity.oidc import OidcConfig
from connectors.servers.keycloak_server import KeycloakServer, admin_password_file
from connectors.servers.manager import SERVICES, servers
from pipelines.settings import Settings
from schemas.agencies import is_ori


@pytest.fixture
def server(tmp_path: Path) -> KeycloakServer:
    return KeycloakServer(Settings(cache_dir=tmp_path, keycloak_port=18444))


def test_the_admin_password_goes_by_environment_not_argv(server: KeycloakServer) -> None:
    server.configure()
    password = server.admin_password().get_secret_value()
    assert admin_password_file(server.settings.secrets_dir).stat().st_mode & 0o777 == 0o600
    assert all(password not in arg for arg in server.command("java"))
    assert server.environment()["KC_BOOTSTRAP_ADMIN_PASSWORD"] == password


def test_keycloak_serves_https_on_loopback_only(server: KeycloakServer) -> None:
    command = server.command("java")
    assert "--http-enabled=false" in command
    assert "--http-host=127.0.0.1" in command
    assert "--https-port=18444" in command
    assert "--cache=local" in command  # no JGroups cluster listener
    assert server.tag in command  # `services down` finds the script and its JVM by it
    assert server.url == "https://127.0.0.1:18444"


def test_keycloak_starts_only_when_named(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    assert "keycloak" not in SERVICES
    assert [s.name for s in servers(settings)] == ["kafka", "cassandra"]
    assert [s.name for s in servers(settings, ["keycloak", "kafka"])] == ["kafka", "keycloak"]


def test_the_mappers_put_what_the_verifier_reads() -> None:
    config = OidcConfig()
    by_kind = {m["protocolMapper"]: m["config"] for m in agency_mappers()}
    attribute = by_kind["oidc-usermodel-attribute-mapper"]
    assert attribute["claim.name"] == config.oidc_agency_claim == AGENCY_ATTRIBUTE
    assert attribute["multivalued"] == "false"  # one ORI, a string
    assert by_kind["oidc-usermodel-client-role-mapper"]["claim.name"] == config.oidc_roles_claim
    assert config.oidc_roles_claim == ROLES_CLAIM
    audience = by_kind["oidc-audience-mapper"]["included.client.audience"]
    assert audience == config.oidc_audience
    assert all(m["access.token.claim"] == "true" for m in by_kind.values())


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("MN0270100", True),
        ("WI12345AB", True),
        ("mn0270100", False),
        ("MN027010", False),
        ("MN02701000", False),
        ("0N0270100", False),
        ("MN027010 ", False),
        (None, False),
        (["MN0270100"], False),
    ],
)
def test_an_ori_is_nine_characters_after_a_state(value: object, ok: bool) -> None:
    assert is_ori(value) is ok

"""OidcVerifier against a real Keycloak (started once per session, realms made per run)."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.identity import (
    OidcClaims,
    OidcConfig,
    OidcProviderConfig,
    OidcProviders,
    OidcVerifier,
)
from connectors.identity.keycloak import (
    AUDIENCE_CLIENT,
    KeycloakAdmin,
    KeycloakError,
    agency_mappers,
)
from connectors.servers.base import ServerError, find_java
from connectors.servers.keycloak_server import KeycloakServer, admin_password_file
from pipelines.settings import Settings, get_settings
from schemas.errors import AccessDenied

ROLES = ("investigator", "supervisor", "auditor")


@pytest.fixture(scope="session")
def keycloak(request: pytest.FixtureRequest) -> Settings:
    """The local Keycloak, started if it is not running (one start per session)."""
    from connectors.servers import up

    try:
        find_java()
    except ServerError as error:
        pytest.skip(f"Keycloak needs Java, and there is none here: {error}")
    settings = get_settings()
    started = time.monotonic()
    up(settings, ["keycloak"])
    elapsed = time.monotonic() - started
    # Printed past pytest's capture, so every run (CI too) shows what the start cost.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nkeycloak up (fetched, built, started as needed) in {elapsed:.1f} s"
            )
    return settings


@dataclass(frozen=True)
class Realm:
    name: str
    lprx_secret: SecretStr
    username: str
    user_id: str
    password: SecretStr


def make_realm(admin: KeycloakAdmin, name: str, agency_ori: str) -> Realm:
    admin.ensure_realm(name)
    admin.ensure_client(name, AUDIENCE_CLIENT, public=False)
    admin.ensure_client_roles(name, AUDIENCE_CLIENT, ROLES)
    secret = admin.ensure_client(name, AUDIENCE_CLIENT, public=False)
    assert secret is not None
    password = SecretStr(secrets.token_urlsafe(16))
    user_id = admin.create_user(
        name, "jdoe", password, agency_ori=agency_ori, roles=["investigator", "supervisor"]
    )
    return Realm(name, secret, "jdoe", user_id, password)


@pytest.fixture(scope="module")
def admin(keycloak: Settings) -> Iterator[KeycloakAdmin]:
    session = KeycloakAdmin.for_local_server(keycloak)
    yield session
    session.close()


@pytest.fixture(scope="module")
def realms(admin: KeycloakAdmin) -> Iterator[tuple[Realm, Realm]]:
    """Two agencies' realms on the one Keycloak, removed afterwards."""
    run = uuid.uuid4().hex[:8]
    made: list[str] = []
    try:
        first = make_realm(admin, f"test-{run}-a", "MN0270100")
        made.append(first.name)
        second = make_realm(admin, f"test-{run}-b", "MN0620000")
        made.append(second.name)
        yield first, second
    finally:
        for name in made:
            admin.delete_realm(name)


def verifier_for(settings: Settings, issuer: str, **update: object) -> OidcVerifier:
    config = OidcConfig(oidc_issuer=issuer, oidc_ca_file=KeycloakServer(settings).ca_file, **update)
    return OidcVerifier(config)


def test_a_person_signed_in_at_keycloak_is_verified(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    realm = realms[0]
    before = datetime.now(UTC)
    token = admin.password_grant(
        realm.name, AUDIENCE_CLIENT, realm.username, realm.password, realm.lprx_secret
    )
    after = datetime.now(UTC)
    claims = verifier_for(keycloak, admin.issuer(realm.name)).verify(token)
    assert claims == OidcClaims(
        subject=realm.user_id,
        username="jdoe",
        agency_ori="MN0270100",
        roles=frozenset({"investigator", "supervisor"}),
        expires_at=claims.expires_at,
    )
    # The realm gives 5-minute access tokens, issued between before and after (Keycloak's
    # times are whole seconds, so up to a second early).
    issued = claims.expires_at - timedelta(minutes=5)
    assert before - timedelta(seconds=1) <= issued <= after


def test_a_provider_pinned_to_other_agencies_is_refused(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    realm = realms[0]
    token = admin.password_grant(
        realm.name, AUDIENCE_CLIENT, realm.username, realm.password, realm.lprx_secret
    )
    verifier = verifier_for(keycloak, admin.issuer(realm.name), oidc_agencies=["MN0620000"])
    with pytest.raises(AccessDenied, match="does not speak for agency MN0270100"):
        verifier.verify(token)


def test_a_password_only_login_is_refused_when_mfa_is_required(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    realm = realms[0]
    token = admin.password_grant(
        realm.name, AUDIENCE_CLIENT, realm.username, realm.password, realm.lprx_secret
    )
    # Keycloak says acr "1" for a login by password alone.
    verifier = verifier_for(keycloak, admin.issuer(realm.name), oidc_required_acr=["2"])
    with pytest.raises(AccessDenied, match="acr '1'"):
        verifier.verify(token)


def test_two_agencies_providers_each_vouch_for_their_own(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    ca_file = KeycloakServer(keycloak).ca_file
    first, second = realms
    config = OidcConfig(
        oidc_issuer=admin.issuer(first.name),
        oidc_agencies=["MN0270100"],
        oidc_ca_file=ca_file,
        oidc_providers=[
            OidcProviderConfig(
                oidc_issuer=admin.issuer(second.name),
                oidc_agencies=["MN0620000"],
                oidc_ca_file=ca_file,
            )
        ],
    )
    providers = OidcProviders.from_config(config)
    for realm, agency in ((first, "MN0270100"), (second, "MN0620000")):
        token = admin.password_grant(
            realm.name, AUDIENCE_CLIENT, realm.username, realm.password, realm.lprx_secret
        )
        claims = providers.verify(token)
        assert (claims.subject, claims.agency_ori) == (realm.user_id, agency)
    providers.close()


def test_a_token_of_another_realm_is_refused(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    mine, theirs = realms
    token = admin.password_grant(
        theirs.name, AUDIENCE_CLIENT, theirs.username, theirs.password, theirs.lprx_secret
    )
    verifier = verifier_for(keycloak, admin.issuer(mine.name))
    with pytest.raises(AccessDenied, match="does not publish"):
        verifier.verify(token)  # the other realm signs with its own keys


def test_a_token_without_the_lprx_audience_is_refused(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    realm = realms[0]
    # Another application of the agency: the agency and roles mappers, no audience
    # mapper, and only its own roles in its tokens.
    admin.ensure_client(
        realm.name, "records-app", public=True, mappers=agency_mappers()[:2], full_scope=False
    )
    token = admin.password_grant(realm.name, "records-app", realm.username, realm.password)
    with pytest.raises(AccessDenied, match="audience does not include 'lprx'"):
        verifier_for(keycloak, admin.issuer(realm.name)).verify(token)


def test_a_full_scope_client_reaches_lprx_unless_clients_are_pinned(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    """Keycloak's "audience resolve" mapper adds to ``aud`` every client whose roles a
    token carries, so any client with full scope gets tokens that name lprx; only
    LPRX_OIDC_AUTHORIZED_PARTIES keeps them out."""
    realm = realms[0]
    admin.ensure_client(realm.name, "portal", public=True, mappers=agency_mappers()[:2])
    token = admin.password_grant(realm.name, "portal", realm.username, realm.password)
    issuer = admin.issuer(realm.name)
    # No audience mapper on "portal", and still lprx is in aud: the token passes.
    assert verifier_for(keycloak, issuer).verify(token).subject == realm.user_id
    pinned = verifier_for(keycloak, issuer, oidc_authorized_parties=[AUDIENCE_CLIENT])
    with pytest.raises(AccessDenied, match="issued to client 'portal'"):
        pinned.verify(token)


def test_a_person_without_an_agency_is_refused(
    keycloak: Settings, admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    realm = realms[0]
    password = SecretStr(secrets.token_urlsafe(16))
    admin.create_user(realm.name, "noagency", password, agency_ori=None, roles=["auditor"])
    token = admin.password_grant(
        realm.name, AUDIENCE_CLIENT, "noagency", password, realm.lprx_secret
    )
    with pytest.raises(AccessDenied, match="agency claim 'agency_ori' is missing"):
        verifier_for(keycloak, admin.issuer(realm.name)).verify(token)


def test_keycloak_refuses_an_agency_that_is_not_an_ori(
    admin: KeycloakAdmin, realms: tuple[Realm, Realm]
) -> None:
    with pytest.raises(KeycloakError, match="HTTP 400"):
        admin.create_user(realms[0].name, "badagency", SecretStr("x" * 16), agency_ori="not-an-ori")


def test_the_admin_password_is_in_no_command_line(keycloak: Settings) -> None:
    server = KeycloakServer(keycloak)
    pid = server.running_pid()
    assert pid is not None
    secret = server.admin_password().get_secret_value().encode()
    mode = admin_password_file(keycloak.secrets_dir).stat().st_mode & 0o777
    assert mode == 0o600
    # The script and the JVM it runs (its children) alike.
    pids = [pid, *(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    for each in pids:
        assert secret not in Path(f"/proc/{each}/cmdline").read_bytes()


def test_lprx_identity_check_token(
    keycloak: Settings,
    admin: KeycloakAdmin,
    realms: tuple[Realm, Realm],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from pipelines.cli import app, identity

    realm = realms[0]
    token = admin.password_grant(
        realm.name, AUDIENCE_CLIENT, realm.username, realm.password, realm.lprx_secret
    )
    configured = keycloak.model_copy(
        update={
            "oidc_issuer": admin.issuer(realm.name),
            "oidc_ca_file": KeycloakServer(keycloak).ca_file,
        }
    )
    monkeypatch.setattr(identity, "settings", lambda: configured)
    runner = CliRunner(env={"COLUMNS": "200"})
    accepted = runner.invoke(app, ["identity", "check-token"], input=token)
    assert accepted.exit_code == 0, accepted.output
    assert "accepted: jdoe of MN0270100, roles investigator, supervisor" in accepted.output
    tampered = runner.invoke(app, ["identity", "check-token"], input=token[:-4] + "AAAA")
    assert tampered.exit_code == 1
    assert "signature does not verify" in tampered.output
    assert token[:-4] not in tampered.output

"""OidcProviders: several agencies' providers, each token judged by its own issuer's rules."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from connectors.identity import OidcConfig, OidcProviderConfig, OidcProviders
from schemas.errors import AccessDenied, ConfigurationError

A = "https://idp.agency-a.example.test/realms/a"
B = "https://idp.agency-b.example.test/realms/b"
KEYS = {A: RSAKey.generate_key(2048, parameters={"kid": "a-key"}),
        B: RSAKey.generate_key(2048, parameters={"kid": "b-key"})}  # fmt: skip


def handler(request: httpx.Request) -> httpx.Response:
    for issuer, key in KEYS.items():
        if str(request.url) == f"{issuer}/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": issuer, "jwks_uri": f"{issuer}/certs"})
        if str(request.url) == f"{issuer}/certs":
            return httpx.Response(200, json={"keys": [key.as_dict(private=False)]})
    return httpx.Response(404)


TRANSPORT = httpx.MockTransport(handler)


def token(issuer: str, agency: str, key: RSAKey | None = None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer, "aud": "lprx", "sub": "s-1", "preferred_username": "jdoe",
        "agency_ori": agency, "lprx_roles": ["investigator"], "iat": now, "exp": now + 60,
    }  # fmt: skip
    signer = key or KEYS[issuer]
    return jwt.encode({"alg": "RS256", "kid": signer.kid}, claims, signer)


@pytest.fixture
def providers() -> OidcProviders:
    config = OidcConfig(
        oidc_issuer=A,
        oidc_agencies=["MN0270100"],
        oidc_providers=[OidcProviderConfig(oidc_issuer=B, oidc_agencies=["MN0620000"])],
    )
    return OidcProviders.from_config(config, transport=TRANSPORT)


def test_each_agency_provider_vouches_for_its_own_people(providers: OidcProviders) -> None:
    assert providers.issuers == [A, B]
    assert providers.verify(token(A, "MN0270100")).agency_ori == "MN0270100"
    assert providers.verify(token(B, "MN0620000")).agency_ori == "MN0620000"


def test_a_provider_cannot_vouch_for_another_agency(providers: OidcProviders) -> None:
    with pytest.raises(AccessDenied, match="does not speak for agency MN0270100"):
        providers.verify(token(B, "MN0270100"))


def test_a_token_naming_another_issuer_than_its_signer_is_refused(
    providers: OidcProviders,
) -> None:
    # Signed by A's key but claiming to be B's: B's keys judge it.
    with pytest.raises(AccessDenied, match="does not publish"):
        providers.verify(token(B, "MN0620000", key=KEYS[A]))


def test_an_unknown_issuer_is_refused_without_asking_anyone(providers: OidcProviders) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "x"})
    with pytest.raises(AccessDenied, match="not a provider lprx trusts"):
        providers.verify(token("https://evil.example.test/realms/x", "MN0270100", key=stranger))
    for garbage in ("", "a.b.c", "x" * 20_000):
        with pytest.raises(AccessDenied, match="not a provider lprx trusts"):
            providers.verify(garbage)


def test_no_provider_configured_refuses_every_token() -> None:
    providers = OidcProviders.from_config(OidcConfig(), transport=TRANSPORT)
    assert providers.issuers == []
    with pytest.raises(AccessDenied):
        providers.verify(token(A, "MN0270100"))


def test_an_issuer_configured_twice_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="configured twice"):
        OidcProviders([OidcProviderConfig(oidc_issuer=A), OidcProviderConfig(oidc_issuer=A)])


def test_a_misspelt_provider_field_is_refused() -> None:
    with pytest.raises(ValueError, match="oidc_isuer"):
        OidcConfig.model_validate({"oidc_providers": [{"oidc_isuer": B}]})

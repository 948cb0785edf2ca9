"""OidcVerifier against a provider faked with httpx.MockTransport and keys made here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from connectors.identity import OidcClaims, OidcConfig, OidcVerifier
from schemas.errors import AccessDenied, ConfigurationError

ISSUER = "https://idp.example.test/realms/agency"
JWKS_URI = f"{ISSUER}/protocol/openid-connect/certs"


class FakeProvider:
    """Serves discovery and a JWKS of the public halves of ``keys``; counts JWKS fetches."""

    def __init__(self, *keys: RSAKey | ECKey) -> None:
        self.keys = list(keys)
        self.jwks_fetches = 0
        self.issuer = ISSUER

    def handler(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == f"{ISSUER}/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": self.issuer, "jwks_uri": JWKS_URI})
        if str(request.url) == JWKS_URI:
            self.jwks_fetches += 1
            published = [key.as_dict(private=False) for key in self.keys]
            # Keycloak also publishes an encryption key; it must never verify a signature.
            published.append({**published[0], "kid": "enc-key", "use": "enc"})
            return httpx.Response(200, json={"keys": published})
        return httpx.Response(404)


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return rsa_key("key-1")


@pytest.fixture
def provider(signing_key: RSAKey) -> FakeProvider:
    return FakeProvider(signing_key)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic() -> Clock:
    return Clock()


def config(**update: Any) -> OidcConfig:
    return OidcConfig(oidc_issuer=ISSUER, oidc_audience="lprx", **update)


@pytest.fixture
def verifier(provider: FakeProvider, monotonic: Clock) -> OidcVerifier:
    return OidcVerifier(
        config(), transport=httpx.MockTransport(provider.handler), monotonic=monotonic
    )


def claims(**update: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": ISSUER,
        "aud": ["lprx", "account"],
        "azp": "lprx-cli",
        "sub": "0f6b4f7e-1111-4d5c-9d4e-123456789abc",
        "preferred_username": "jdoe",
        "agency_ori": "MN0270100",
        "lprx_roles": ["investigator", "supervisor"],
        "typ": "Bearer",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    values.update(update)
    return {k: v for k, v in values.items() if v is not None}


def sign(key: RSAKey | ECKey, payload: dict[str, Any], alg: str = "RS256", **header: Any) -> str:
    kid = key.kid
    return jwt.encode(
        {"alg": alg, "kid": kid, "typ": "JWT", **header}, payload, key, algorithms=[alg]
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def refused(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(AccessDenied) as caught:
        verifier.verify(token)
    message = str(caught.value)
    assert len(token) < 5 or token not in message, "the token must never be echoed"
    return message


def test_a_good_token_gives_the_person(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    payload = claims()
    result = verifier.verify(sign(signing_key, payload))
    assert result == OidcClaims(
        subject=payload["sub"],
        username="jdoe",
        agency_ori="MN0270100",
        roles=frozenset({"investigator", "supervisor"}),
        expires_at=datetime.fromtimestamp(payload["exp"], UTC),
    )


def test_an_ec_key_verifies_too(monotonic: Clock) -> None:
    key = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    provider = FakeProvider(rsa_key("other"), key)
    verifier = OidcVerifier(
        config(), transport=httpx.MockTransport(provider.handler), monotonic=monotonic
    )
    assert verifier.verify(sign(key, claims(), alg="ES256")).username == "jdoe"


def test_a_signature_by_another_key_is_refused(verifier: OidcVerifier) -> None:
    impostor = rsa_key("key-1")  # same kid, different key
    assert "signature does not verify" in refused(verifier, sign(impostor, claims()))


def test_a_tampered_payload_is_refused(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    header, _, signature = sign(signing_key, claims()).split(".")
    forged = b64(json.dumps(claims(agency_ori="MN0000000")).encode())
    assert "signature does not verify" in refused(verifier, f"{header}.{forged}.{signature}")


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ({"iss": "https://idp.example.test/realms/other"}, "iss"),
        ({"iss": None}, "iss"),
        ({"aud": "account"}, "audience does not include 'lprx'"),
        ({"aud": None}, "audience does not include 'lprx'"),
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"exp": None}, "exp"),
        ({"nbf": int(time.time()) + 600}, "not yet valid"),
        ({"iat": int(time.time()) + 600}, "issued in the future"),
        ({"sub": None}, "sub"),
        ({"agency_ori": None}, "agency claim 'agency_ori' is missing"),
        ({"agency_ori": "mn027"}, "not one ORI"),
        ({"agency_ori": ["MN0270100", "MN0270200"]}, "not one ORI"),
        ({"lprx_roles": None}, "roles claim 'lprx_roles' is missing"),
        ({"lprx_roles": []}, "names no role"),
        ({"lprx_roles": [1, 2]}, "not a list of role names"),
        ({"preferred_username": None}, "preferred_username"),
        ({"typ": "ID"}, "not an access token"),
        ({"typ": "Refresh"}, "not an access token"),
    ],
)
def test_a_bad_claim_is_refused(
    verifier: OidcVerifier, signing_key: RSAKey, update: dict[str, Any], reason: str
) -> None:
    assert reason in refused(verifier, sign(signing_key, claims(**update)))


def test_small_clock_skew_is_allowed(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    now = int(time.time())
    skewed = claims(iat=now + 10, nbf=now + 10, exp=now - 10)  # within the 30 s leeway
    assert verifier.verify(sign(signing_key, skewed)).username == "jdoe"


def test_azp_must_be_allowed_when_configured(provider: FakeProvider, signing_key: RSAKey) -> None:
    transport = httpx.MockTransport(provider.handler)
    strict = OidcVerifier(config(oidc_authorized_parties=["lprx-console"]), transport=transport)
    assert "issued to client 'lprx-cli'" in refused(strict, sign(signing_key, claims()))
    assert strict.verify(sign(signing_key, claims(azp="lprx-console"))).username == "jdoe"


def test_alg_none_is_refused(verifier: OidcVerifier) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    assert "algorithm 'none' is not allowed" in refused(verifier, f"{header}.{payload}.")


def test_hs256_signed_with_the_public_key_is_refused(
    verifier: OidcVerifier, signing_key: RSAKey, provider: FakeProvider
) -> None:
    # The classic confusion: the attacker HMACs with the published public key as secret.
    public_pem = signing_key.as_pem(private=False)
    header = b64(json.dumps({"alg": "HS256", "kid": "key-1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert "algorithm 'HS256' is not allowed" in refused(verifier, f"{header}.{payload}.{b64(mac)}")
    assert provider.jwks_fetches == 0, "refused before any key was even looked up"


def test_the_key_alg_must_match_the_token_alg(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    # The same key material without its "alg", so joserfc signs PS256 with it.
    material = {k: v for k, v in signing_key.as_dict(private=True).items() if k != "alg"}
    token = sign(RSAKey.import_key(material), claims(), alg="PS256")  # published for RS256
    assert "is for RS256" in refused(verifier, token)


def test_an_encryption_key_never_verifies(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    enc = RSAKey.import_key(signing_key.as_dict(private=True), parameters={"kid": "enc-key"})
    assert "does not publish" in refused(verifier, sign(enc, claims()))


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d.e", "!!!.@@@.###", "x" * 20_000])
def test_garbage_is_refused_clearly(verifier: OidcVerifier, token: str) -> None:
    refused(verifier, token)


def test_an_unknown_kid_fetches_the_keys_again(
    verifier: OidcVerifier, provider: FakeProvider, signing_key: RSAKey, monotonic: Clock
) -> None:
    assert verifier.verify(sign(signing_key, claims())).username == "jdoe"
    assert provider.jwks_fetches == 1
    rotated = rsa_key("key-2")
    provider.keys.append(rotated)
    monotonic.now += 31  # past the refetch interval
    assert verifier.verify(sign(rotated, claims())).username == "jdoe"
    assert provider.jwks_fetches == 2
    # Held keys are used from the cache.
    verifier.verify(sign(signing_key, claims()))
    verifier.verify(sign(rotated, claims()))
    assert provider.jwks_fetches == 2


def test_unknown_kids_refetch_at_most_once_per_interval(
    verifier: OidcVerifier, provider: FakeProvider, signing_key: RSAKey, monotonic: Clock
) -> None:
    verifier.verify(sign(signing_key, claims()))
    for attempt in range(20):
        stranger = rsa_key(f"made-up-{attempt}")
        assert "does not publish" in refused(verifier, sign(stranger, claims()))
    assert provider.jwks_fetches == 1, "refetches are rate-limited"
    monotonic.now += 31
    refused(verifier, sign(rsa_key("made-up-late"), claims()))
    assert provider.jwks_fetches == 2


def test_the_keys_expire_from_the_cache(
    verifier: OidcVerifier, provider: FakeProvider, signing_key: RSAKey, monotonic: Clock
) -> None:
    verifier.verify(sign(signing_key, claims()))
    monotonic.now += 3601
    verifier.verify(sign(signing_key, claims()))
    assert provider.jwks_fetches == 2


def test_a_discovery_naming_another_issuer_is_refused(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    provider.issuer = "https://evil.example.test/realms/agency"
    verifier = OidcVerifier(config(), transport=httpx.MockTransport(provider.handler))
    assert "could not be fetched" in refused(verifier, sign(signing_key, claims()))


def test_an_unreachable_provider_refuses_and_keeps_held_keys(
    provider: FakeProvider, signing_key: RSAKey, monotonic: Clock
) -> None:
    up = {"yes": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if not up["yes"]:
            raise httpx.ConnectError("connection refused", request=request)
        return provider.handler(request)

    verifier = OidcVerifier(config(), transport=httpx.MockTransport(handler), monotonic=monotonic)
    verifier.verify(sign(signing_key, claims()))
    up["yes"] = False
    monotonic.now += 3601  # the cache is stale, the refetch fails: the held keys still work
    assert verifier.verify(sign(signing_key, claims())).username == "jdoe"
    cold = OidcVerifier(config(), transport=httpx.MockTransport(handler))
    assert "ConnectError" in refused(cold, sign(signing_key, claims()))


def test_nested_roles_claim(provider: FakeProvider, signing_key: RSAKey) -> None:
    verifier = OidcVerifier(
        config(oidc_roles_claim="realm_access.roles"),
        transport=httpx.MockTransport(provider.handler),
    )
    token = sign(signing_key, claims(lprx_roles=None, realm_access={"roles": ["auditor"]}))
    assert verifier.verify(token).roles == frozenset({"auditor"})


def test_the_issuer_must_be_https() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        OidcVerifier(OidcConfig(oidc_issuer="http://idp.example.test/realms/a"))
    with pytest.raises(ConfigurationError, match="not set"):
        OidcVerifier(OidcConfig())


def test_a_key_embedded_in_the_header_is_never_trusted(verifier: OidcVerifier) -> None:
    attacker = rsa_key("attacker")
    public = attacker.as_dict(private=False)
    with_jwk = sign(attacker, claims(), jwk=public)
    with_jku = sign(attacker, claims(), jku="https://evil.example.test/jwks")
    assert "not accepted" in refused(verifier, with_jwk)  # joserfc refuses it outright
    assert "does not publish" in refused(verifier, with_jku)


def test_a_kid_that_is_not_a_string_is_refused(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    header = b64(json.dumps({"alg": "RS256", "kid": 7, "typ": "JWT"}).encode())
    _, payload, signature = sign(signing_key, claims()).split(".")
    assert "kid" in refused(verifier, f"{header}.{payload}.{signature}")


def test_a_provider_speaks_only_for_its_agencies(
    provider: FakeProvider, signing_key: RSAKey
) -> None:
    transport = httpx.MockTransport(provider.handler)
    pinned = OidcVerifier(config(oidc_agencies=["MN0620000"]), transport=transport)
    assert "does not speak for agency MN0270100" in refused(pinned, sign(signing_key, claims()))
    token = sign(signing_key, claims(agency_ori="MN0620000"))
    assert pinned.verify(token).agency_ori == "MN0620000"


def test_an_unreadable_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    for ca_file in (tmp_path, tmp_path / "missing.pem", not_pem):
        with pytest.raises(ConfigurationError, match="LPRX_OIDC_CA_FILE"):
            OidcVerifier(config(oidc_ca_file=ca_file))


def test_a_required_acr_is_enforced(provider: FakeProvider, signing_key: RSAKey) -> None:
    transport = httpx.MockTransport(provider.handler)
    mfa_only = OidcVerifier(config(oidc_required_acr=["mfa", "2"]), transport=transport)
    assert "multi-factor login is required" in refused(mfa_only, sign(signing_key, claims()))
    password_only = sign(signing_key, claims(acr="1"))
    assert "acr '1'" in refused(mfa_only, password_only)
    assert mfa_only.verify(sign(signing_key, claims(acr="2"))).username == "jdoe"

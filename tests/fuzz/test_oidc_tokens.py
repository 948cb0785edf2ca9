"""OidcVerifier fed arbitrary and mutated tokens: each is refused with AccessDenied (never
another exception), and the refusal never repeats the token."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import RSAKey

from connectors.identity import OidcConfig, OidcProviders, OidcVerifier
from schemas.errors import AccessDenied
from tests.fuzz import EXAMPLES

ISSUER = "https://idp.example.test/realms/fuzz"
KEY = RSAKey.generate_key(2048, parameters={"kid": "fuzz-key", "alg": "RS256"})


def _provider(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/.well-known/openid-configuration"):
        return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/certs"})
    return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})


VERIFIER = OidcVerifier(OidcConfig(oidc_issuer=ISSUER), transport=httpx.MockTransport(_provider))
PROVIDERS = OidcProviders.from_config(
    OidcConfig(oidc_issuer=ISSUER), transport=httpx.MockTransport(_provider)
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _refused(token: str) -> None:
    for verifier in (VERIFIER, PROVIDERS):
        try:
            verifier.verify(token)
        except AccessDenied as refusal:
            assert len(token) < 8 or token not in str(refusal)
            continue
        raise AssertionError("a fuzzed token was accepted")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_is_refused(token: str) -> None:
    _refused(token)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=json_values, payload=json_values, signature=st.binary(max_size=300))
def test_arbitrary_json_parts_are_refused(header: Any, payload: Any, signature: bytes) -> None:
    parts = [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)]
    _refused(".".join(parts))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims=st.dictionaries(st.sampled_from(["iss", "aud", "sub", "exp", "nbf", "iat",
       "agency_ori", "lprx_roles", "preferred_username", "typ", "azp"]), json_values))  # fmt: skip
def test_well_signed_tokens_with_arbitrary_claims_never_crash(claims: dict[str, Any]) -> None:
    # Signed by the provider's own key, so every check past the signature is reached;
    # such a token may pass only with every claim lprx requires in its right shape.
    token = jwt.encode({"alg": "RS256", "kid": "fuzz-key"}, claims, KEY)
    for verifier in (VERIFIER, PROVIDERS):
        try:
            result = verifier.verify(token)
        except AccessDenied:
            continue
        assert claims["iss"] == ISSUER and result.agency_ori == claims["agency_ori"]

"""Access tokens from an agency's own OpenID Connect provider, verified to a person.

    verifier = OidcVerifier(settings)          # any config with the oidc_* fields
    claims = verifier.verify(bearer_token)     # OidcClaims, or AccessDenied with why

A token is taken only when all of these hold: it is a signed JWT (an asymmetric
algorithm; never ``none`` or an HMAC, which a public key would otherwise "verify"),
signed by a key the issuer publishes, ``iss`` is the configured issuer, ``aud`` names
lprx (and ``azp`` is an allowed client, when that is configured), ``exp``, ``nbf`` and
``iat`` hold within a small leeway, and it names a subject, a user name, one agency ORI
(one the provider may speak for, when ``oidc_agencies`` is set) and at least one role.
The token itself never appears in a message or a log line.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ClaimError, JoseError

from connectors.identity.config import OidcConfig, OidcProviderConfig
from connectors.identity.keys import ProviderKeys, http_client
from schemas.agencies import is_ori
from schemas.errors import AccessDenied, ConfigurationError

__all__ = ["ASYMMETRIC_ALGORITHMS", "OidcClaims", "OidcConfig", "OidcProviders", "OidcVerifier"]

log = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# Far larger than any real access token; bounds the work a garbage header can cause.
MAX_TOKEN_BYTES = 16_384
# What a JWT access token may call itself (RFC 9068 and Keycloak); an ID or refresh token
# of the same provider must not pass as one.
_HEADER_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
_PAYLOAD_TYPES = frozenset({"bearer"})
_MAX_ROLE_LENGTH = 64


@dataclass(frozen=True)
class OidcClaims:
    """Who a verified token says is asking."""

    subject: str
    username: str
    agency_ori: str
    roles: frozenset[str]
    expires_at: datetime


def _refuse(reason: str) -> AccessDenied:
    return AccessDenied(f"OIDC token refused: {reason}")


def _claim_path(claims: Mapping[str, Any], path: str) -> object:
    """The claim at ``path``; a dotted path walks nested objects (realm_access.roles)."""
    value: object = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


class OidcVerifier:
    """Verifies access tokens of one issuer; keeps its keys (thread-safe)."""

    def __init__(
        self,
        config: OidcProviderConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._clock = clock
        self._client = http_client(config, transport)
        self._keys = ProviderKeys(config, self._client, monotonic)

    def close(self) -> None:
        self._client.close()

    def verify(self, token: str) -> OidcClaims:
        header = self._header(token)
        algorithm = header["alg"]
        # Only the kid picks a key: a key or key URL in the header (jwk, jku, x5u, x5c)
        # is the signer's own word about itself and is never used.
        kid = header.get("kid")
        key = self._keys.key(kid)
        key_algorithm = key.get("alg")
        if key_algorithm is not None and key_algorithm != algorithm:
            raise _refuse(f"signed with {algorithm}, but key {kid!r} is for {key_algorithm}")
        try:
            decoded = jwt.decode(token, key, algorithms=[algorithm])
        except BadSignatureError:
            raise _refuse("the signature does not verify") from None
        except JoseError as error:
            raise _refuse(f"not a valid signed JWT ({error.error})") from None
        claims = decoded.claims
        self._check_registered(claims)
        self._check_audience(claims)
        required_acr = self._config.oidc_required_acr
        if required_acr and claims.get("acr") not in required_acr:
            raise _refuse(
                f"the login's assurance (acr {claims.get('acr')!r}) is not one of "
                f"{', '.join(required_acr)}: a multi-factor login is required"
            )
        claims_typ = claims.get("typ")
        if claims_typ is not None and str(claims_typ).lower() not in _PAYLOAD_TYPES:
            raise _refuse(f"it is a {claims_typ!r} token, not an access token")
        result = OidcClaims(
            subject=self._text(claims, "sub"),
            username=self._text(claims, self._config.oidc_username_claim),
            agency_ori=self._agency(claims),
            roles=self._roles(claims),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
        log.info(
            "OIDC: verified %s of %s (subject %s, key %s)",
            result.username, result.agency_ori, result.subject, kid,
        )  # fmt: skip
        return result

    # --- the steps --------------------------------------------------------------------

    def _header(self, token: object) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise _refuse("no token given")
        if len(token) > MAX_TOKEN_BYTES:
            raise _refuse(f"longer than {MAX_TOKEN_BYTES} bytes")
        if token.count(".") != 2:
            # Five parts is an encrypted token (JWE); lprx takes signed tokens only.
            raise _refuse("not a compact signed JWT (three dot-separated parts)")
        try:
            header = dict(jws.extract_compact(token.encode("ascii")).protected)
        except JoseError as error:
            raise _refuse(f"its header is malformed or not accepted ({error.error})") from None
        except (ValueError, UnicodeError):
            raise _refuse("its header is not valid base64url JSON") from None
        algorithm = header.get("alg")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise _refuse(
                f"algorithm {algorithm!r} is not allowed (only asymmetric signatures: "
                f"{', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
            )
        typ = header.get("typ")
        if typ is not None and str(typ).lower() not in _HEADER_TYPES:
            raise _refuse(f"header type {typ!r} is not an access token's")
        if "kid" in header and not isinstance(header["kid"], str):
            raise _refuse("its key id (kid) is not a string")
        if header.get("crit"):
            raise _refuse("it has critical header parameters lprx does not understand")
        return header

    def _check_registered(self, claims: dict[str, Any]) -> None:
        registry = jwt.JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=self._config.oidc_leeway_seconds,
            iss={"essential": True, "value": self._keys.issuer},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except ClaimError as error:
            if error.error == "expired_token":
                raise _refuse("it has expired") from None
            raise _refuse(error.description) from None

    def _check_audience(self, claims: dict[str, Any]) -> None:
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self._config.oidc_audience not in audiences:
            raise _refuse(f"its audience does not include {self._config.oidc_audience!r}")
        allowed = self._config.oidc_authorized_parties
        if allowed and claims.get("azp") not in allowed:
            raise _refuse(f"it was issued to client {claims.get('azp')!r}, not an allowed one")

    def _text(self, claims: dict[str, Any], name: str) -> str:
        value = _claim_path(claims, name)
        if not isinstance(value, str) or not value.strip():
            raise _refuse(f"claim {name!r} is missing or empty")
        return value

    def _agency(self, claims: dict[str, Any]) -> str:
        name = self._config.oidc_agency_claim
        value = _claim_path(claims, name)
        if value is None:
            raise _refuse(f"the agency claim {name!r} is missing")
        if not isinstance(value, str) or not is_ori(value):
            raise _refuse(f"the agency claim {name!r} is not one ORI (nine characters)")
        allowed = self._config.oidc_agencies
        if allowed and value not in allowed:
            raise _refuse(f"this provider does not speak for agency {value}")
        return value

    def _roles(self, claims: dict[str, Any]) -> frozenset[str]:
        name = self._config.oidc_roles_claim
        value = _claim_path(claims, name)
        if value is None:
            raise _refuse(f"the roles claim {name!r} is missing")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(
            isinstance(role, str) and 0 < len(role) <= _MAX_ROLE_LENGTH for role in value
        ):
            raise _refuse(f"the roles claim {name!r} is not a list of role names")
        if not value:
            raise _refuse(f"the roles claim {name!r} names no role")
        return frozenset(value)


class OidcProviders:
    """Several providers (an agency each): a token goes to the verifier of the issuer its
    ``iss`` names, which checks everything again against that issuer's own keys and
    rules, so the unverified ``iss`` only chooses whose rules apply."""

    def __init__(
        self,
        configs: Sequence[OidcProviderConfig],
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._verifiers: dict[str, OidcVerifier] = {}
        for config in configs:
            if config.oidc_issuer in self._verifiers:
                raise ConfigurationError(f"OIDC issuer {config.oidc_issuer} is configured twice")
            verifier = OidcVerifier(config, transport=transport)
            self._verifiers[str(config.oidc_issuer)] = verifier

    @classmethod
    def from_config(
        cls, config: OidcConfig, *, transport: httpx.BaseTransport | None = None
    ) -> OidcProviders:
        """LPRX_OIDC_ISSUER's provider (when set) and those of LPRX_OIDC_PROVIDERS."""
        first: list[OidcProviderConfig] = [config] if config.oidc_issuer else []
        return cls([*first, *config.oidc_providers], transport=transport)

    @property
    def issuers(self) -> list[str]:
        return list(self._verifiers)

    def close(self) -> None:
        for verifier in self._verifiers.values():
            verifier.close()

    def verify(self, token: str) -> OidcClaims:
        issuer = _unverified_issuer(token)
        verifier = self._verifiers.get(issuer) if issuer is not None else None
        if verifier is None:
            raise _refuse("its issuer is not a provider lprx trusts")
        return verifier.verify(token)


def _unverified_issuer(token: object) -> str | None:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None

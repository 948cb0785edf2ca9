"""The provider's signing keys: discovered once, cached, fetched again on an unknown key id.

Discovery (``<issuer>/.well-known/openid-configuration``) names the JWKS URL; the keys
are kept ``oidc_jwks_cache_seconds`` and fetched again early when a token names a key id
not held (the provider rotated its keys), at most once per ``oidc_jwks_refetch_seconds``
so that tokens with made-up key ids cannot make lprx hammer the provider.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from connectors.identity.config import OidcProviderConfig
from schemas.errors import AccessDenied, ConfigurationError

log = logging.getLogger(__name__)

PublicKey = RSAKey | ECKey | OKPKey
# Key types that verify asymmetric signatures; an "oct" key (a shared secret) is never
# taken from a JWKS: a published secret would let anyone sign.
_KEY_TYPES: dict[str, type[PublicKey]] = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}


def tls_context(config: OidcProviderConfig) -> ssl.SSLContext:
    """Trusts the configured CA (or the system's) for the provider's certificate."""
    ca_file = config.oidc_ca_file
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as error:
        raise ConfigurationError(
            f"LPRX_OIDC_CA_FILE {str(ca_file)!r} is not a readable PEM CA certificate: {error}"
        ) from None


def http_client(
    config: OidcProviderConfig, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An HTTPS client that trusts the configured CA (or the system's), no redirects."""
    return httpx.Client(
        verify=tls_context(config),
        timeout=config.oidc_http_timeout_seconds,
        follow_redirects=False,
        transport=transport,
    )


def _import_keys(document: object) -> dict[str, PublicKey]:
    """The signing keys of a JWKS document by key id; encryption and secret keys, and
    keys lprx cannot read, are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the JWKS document has no list of keys")
    keys: dict[str, PublicKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        key_type = _KEY_TYPES.get(str(entry.get("kty")))
        kid = entry.get("kid")
        if key_type is None or not isinstance(kid, str):
            continue
        try:
            key = key_type.import_key(entry)
        except (JoseError, ValueError, TypeError):
            log.warning("OIDC: skipped a JWKS key that could not be read (kid %s)", kid)
            continue
        if key.is_private:
            continue  # a provider that publishes private keys is broken; never use them
        keys[kid] = key
    return keys


class ProviderKeys:
    """Thread-safe cache of one issuer's signing keys."""

    def __init__(
        self,
        config: OidcProviderConfig,
        client: httpx.Client,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not config.oidc_issuer:
            raise ConfigurationError("LPRX_OIDC_ISSUER is not set: no provider to verify with")
        if not config.oidc_issuer.startswith("https://"):
            raise ConfigurationError(
                f"LPRX_OIDC_ISSUER must be an https:// URL (got {config.oidc_issuer!r}): "
                "keys fetched over plain HTTP could be swapped on the way"
            )
        self.issuer = config.oidc_issuer
        self._config = config
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._jwks_uri: str | None = None
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None

    def key(self, kid: str | None) -> PublicKey:
        """The signing key named ``kid`` (with no kid: the provider's only key)."""
        with self._lock:
            now = self._clock()
            stale = (
                self._fetched_at is None
                or now - self._fetched_at >= self._config.oidc_jwks_cache_seconds
            )
            if stale:
                self._refresh(now)
            found = self._pick(kid)
            if found is None and self._may_refetch(now):
                log.info("OIDC: key id %s not held, fetching the provider's keys again", kid)
                self._refresh(now)
                found = self._pick(kid)
        if found is None:
            if kid is None:
                raise AccessDenied(
                    "OIDC token refused: it names no key id (kid) and the provider has "
                    f"{len(self._keys)} signing keys"
                )
            raise AccessDenied(f"OIDC token refused: signed with key id {kid!r}, which the "
                               "provider does not publish")  # fmt: skip
        return found

    def _pick(self, kid: str | None) -> PublicKey | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _may_refetch(self, now: float) -> bool:
        return (
            self._fetched_at is None
            or now - self._fetched_at >= self._config.oidc_jwks_refetch_seconds
        )

    def _refresh(self, now: float) -> None:
        try:
            if self._jwks_uri is None:
                self._jwks_uri = self._discover()
            self._keys = _import_keys(self._get_json(self._jwks_uri))
        except (httpx.HTTPError, ValueError) as error:
            # Keep the keys held (if any): a provider briefly down must not lock
            # everyone out before the cache would have expired anyway.
            log.warning("OIDC: could not fetch the keys of %s: %s", self.issuer, error)
            if not self._keys:
                raise AccessDenied(
                    f"OIDC token refused: the keys of {self.issuer} could not be fetched "
                    f"({type(error).__name__}: {error})"
                ) from None
        # A failed fetch counts too, so that refetching stays rate-limited.
        self._fetched_at = now

    def _discover(self) -> str:
        document = self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        if not isinstance(document, dict):
            raise ValueError("the discovery document is not a JSON object")
        if document.get("issuer") != self.issuer:
            # OpenID Connect Discovery 1.0, section 4.3: the issuers must be identical.
            raise ValueError(
                f"the discovery document names issuer {document.get('issuer')!r}, "
                f"not {self.issuer!r}"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
            raise ValueError(f"the discovery document's jwks_uri {jwks_uri!r} is not https")
        return jwks_uri

    def _get_json(self, url: str) -> Any:
        response = self._client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()

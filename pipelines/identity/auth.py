"""One bearer token, three kinds: an lprx session, a service key, or (when
``LPRX_OIDC_ISSUER`` or ``LPRX_OIDC_PROVIDERS`` is set) an access token of an agency's
OpenID Connect provider.

The API and the web console authenticate every request here. The provider is reached
through the ``ExternalVerifier`` seam (``connectors/identity/oidc.py``'s ``OidcProviders``
fits it): it checks the token against the provider's keys and says who it is, of which
agency, with which roles; lprx keeps only the roles it knows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from connectors.identity.config import OidcConfig
from pipelines.identity.accounts import SERVICE_PREFIX, SESSION_PREFIX, Clock, IdentityService
from schemas.errors import AccessDenied
from schemas.people import Principal, Role
from schemas.records import utcnow

log = logging.getLogger(__name__)

# CJIS AC-8: shown before and at login, by the API (health, login) and the console.
SYSTEM_USE_BANNER = (
    "You are accessing a criminal justice information system of the lprx consortium. "
    "Use is restricted to authorised persons for legitimate law enforcement purposes. "
    "Every access is monitored, recorded in an audit trail and subject to audit; "
    "unauthorised use is prohibited and may lead to criminal and civil penalties. "
    "Using this system means you consent to this monitoring and recording."
)
SESSION_COOKIE = "lprx_session"


class ExternalClaims(Protocol):
    @property
    def username(self) -> str: ...
    @property
    def agency_ori(self) -> str: ...
    @property
    def roles(self) -> frozenset[str]: ...
    @property
    def expires_at(self) -> datetime: ...


class ExternalVerifier(Protocol):
    def verify(self, token: str) -> ExternalClaims:
        """The token's claims; raises ``AccessDenied`` for a token it does not accept."""
        ...


def external_verifier(config: OidcConfig) -> ExternalVerifier | None:
    """The agencies' OpenID Connect providers (``LPRX_OIDC_ISSUER``,
    ``LPRX_OIDC_PROVIDERS``), or None when none is configured: lprx's own accounts only."""
    if not config.oidc_issuer and not config.oidc_providers:
        return None
    from connectors.identity.oidc import OidcProviders

    return OidcProviders.from_config(config)


# An agency's provider speaks for its own agency only: it can never make a consortium
# operator or a service.
PROVIDER_ROLES = frozenset({Role.INVESTIGATOR, Role.SUPERVISOR, Role.AGENCY_ADMIN, Role.AUDITOR})


def known_roles(names: frozenset[str]) -> frozenset[Role]:
    """The provider's roles that name lprx agency roles (``investigator``,
    ``lprx:auditor``...); others are ignored, never widened."""
    values = {r.value for r in PROVIDER_ROLES}
    return frozenset(
        Role(n.removeprefix("lprx:")) for n in names if n.removeprefix("lprx:") in values
    )


class Authenticator:
    def __init__(
        self,
        identity: IdentityService,
        external: ExternalVerifier | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.identity = identity
        self._external = external
        self._clock: Callable[[], datetime] = clock

    def principal(self, token: str | None) -> Principal:
        """Who holds ``token``; raises ``AccessDenied`` without one or for a bad one."""
        if not token:
            raise AccessDenied("authentication required: log in (`lprx login`)")
        if token.startswith((SESSION_PREFIX, SERVICE_PREFIX)) or self._external is None:
            return self.identity.principal(token)
        claims = self._external.verify(token)
        if claims.expires_at <= self._clock():
            raise AccessDenied("the provider's token has expired")
        return Principal(claims.username, claims.agency_ori, known_roles(claims.roles), "oidc")

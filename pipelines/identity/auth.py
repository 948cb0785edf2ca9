"""One bearer token, three kinds: an lprx session, a service key, or (when
``LPRX_OIDC_ISSUER`` is set) an access token of an agency's OpenID Connect provider.

The API and the web console authenticate every request here. The provider is reached
through the ``ExternalVerifier`` seam (``connectors/identity/oidc.py``'s ``OidcVerifier``
fits it): it checks the token against the provider's keys and says who it is, of which
agency, with which roles; lprx keeps only the roles it knows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from pipelines.identity.accounts import SERVICE_PREFIX, SESSION_PREFIX, Clock, IdentityService
from schemas.errors import AccessDenied, ConfigurationError
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


def oidc_verifier_from_env() -> ExternalVerifier | None:
    """The OIDC verifier when ``LPRX_OIDC_ISSUER`` is set (its config reads the rest of
    ``LPRX_OIDC_*``), else None: lprx's own accounts only."""
    if not os.environ.get("LPRX_OIDC_ISSUER"):
        return None
    try:
        from connectors.identity.oidc import OidcConfig, OidcVerifier  # type: ignore[import-not-found,unused-ignore]
    except ImportError as error:
        raise ConfigurationError(
            "LPRX_OIDC_ISSUER is set but this build has no OpenID Connect connector"
        ) from error
    verifier: ExternalVerifier = OidcVerifier(OidcConfig())
    return verifier


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

"""People from an agency's own identity provider (OpenID Connect), verified to claims.

from connectors.identity import OidcVerifier
claims = OidcVerifier(settings).verify(token)   # OidcClaims or AccessDenied
"""

from connectors.identity.config import OidcConfig
from connectors.identity.oidc import OidcClaims, OidcVerifier

__all__ = ["OidcClaims", "OidcConfig", "OidcVerifier"]

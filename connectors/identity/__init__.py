"""People from an agency's own identity provider (OpenID Connect), verified to claims.

from connectors.identity import OidcVerifier
claims = OidcVerifier(settings).verify(token)   # OidcClaims or AccessDenied
"""

from connectors.identity.config import OidcConfig, OidcProviderConfig
from connectors.identity.oidc import OidcClaims, OidcProviders, OidcVerifier

__all__ = ["OidcClaims", "OidcConfig", "OidcProviderConfig", "OidcProviders", "OidcVerifier"]

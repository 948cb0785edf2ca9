"""Keycloak's fixtures (tests/integration/connectors/test_oidc_keycloak.py), for the API's
test with a real provider's tokens."""

from tests.integration.connectors.test_oidc_keycloak import admin, keycloak, realms  # noqa: F401

"""Makes what lprx needs in a Keycloak realm, through Keycloak's admin REST API.

For an agency that runs Keycloak (and for lprx's own tests and demo), a realm gets:

- the user-profile attribute ``agency_ori`` (an ORI; only administrators may change it,
  so a person cannot move themselves to another agency),
- the client ``lprx`` (the audience: its client roles are the lprx roles),
- clients that sign people in, each with three protocol mappers: the agency attribute
  into the ``agency_ori`` claim, the ``lprx`` client roles into ``lprx_roles``, and an
  audience mapper that puts ``lprx`` into ``aud``,
- people with their agency and roles.

    admin = KeycloakAdmin.for_local_server(settings)
    admin.ensure_realm("agency-a")
    admin.ensure_client("agency-a", "lprx", public=False)
    admin.create_user("agency-a", "jdoe", password, agency_ori="MN0270100", roles=["investigator"])
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.servers.config import ServersConfig
from connectors.servers.keycloak_server import ADMIN_USER, KeycloakServer
from schemas.agencies import ORI_PATTERN
from schemas.errors import ConfigurationError

AUDIENCE_CLIENT = "lprx"
AGENCY_ATTRIBUTE = "agency_ori"
ROLES_CLAIM = "lprx_roles"


def agency_mappers(audience: str = AUDIENCE_CLIENT) -> list[dict[str, Any]]:
    """The protocol mappers a client needs for its access tokens to be lprx's."""
    token_claim = {"access.token.claim": "true", "introspection.token.claim": "true"}
    return [
        {
            "name": "agency ORI",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-usermodel-attribute-mapper",
            "config": {
                **token_claim,
                "user.attribute": AGENCY_ATTRIBUTE,
                "claim.name": AGENCY_ATTRIBUTE,
                "jsonType.label": "String",
                "multivalued": "false",
                "id.token.claim": "true",
                "userinfo.token.claim": "true",
            },
        },
        {
            "name": "lprx roles",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-usermodel-client-role-mapper",
            "config": {
                **token_claim,
                "usermodel.clientRoleMapping.clientId": audience,
                "claim.name": ROLES_CLAIM,
                "jsonType.label": "String",
                "multivalued": "true",
            },
        },
        {
            "name": "lprx audience",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-audience-mapper",
            "config": {**token_claim, "included.client.audience": audience},
        },
    ]


class KeycloakError(ConfigurationError):
    """Keycloak refused an admin request; the message says which and why."""


class KeycloakAdmin:
    """An administrator session on one Keycloak (the master realm's admin-cli)."""

    def __init__(
        self,
        url: str,
        password: SecretStr,
        *,
        ca_file: Path | None,
        username: str = ADMIN_USER,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        verify = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._http = httpx.Client(base_url=self.url, verify=verify, timeout=timeout)
        self._username = username
        self._password = password
        self._token: str | None = None

    @classmethod
    def for_local_server(cls, settings: ServersConfig) -> KeycloakAdmin:
        server = KeycloakServer(settings)
        return cls(server.url, server.admin_password(), ca_file=server.ca_file)

    def close(self) -> None:
        self._http.close()

    def issuer(self, realm: str) -> str:
        return f"{self.url}/realms/{realm}"

    # --- realms -----------------------------------------------------------------------

    def ensure_realm(self, realm: str) -> None:
        """The realm, with short-lived tokens and brute-force lockout, and the agency
        attribute in its user profile (administrators alone may change it)."""
        self._call(
            "POST",
            "/admin/realms",
            json={
                "realm": realm,
                "enabled": True,
                "accessTokenLifespan": 300,
                "bruteForceProtected": True,
                "failureFactor": 5,
            },
            conflict_ok=True,
        )
        profile = self._call("GET", f"/admin/realms/{realm}/users/profile").json()
        attributes = profile.setdefault("attributes", [])
        if not any(a.get("name") == AGENCY_ATTRIBUTE for a in attributes):
            attributes.append(
                {
                    "name": AGENCY_ATTRIBUTE,
                    "displayName": "Agency ORI",
                    "multivalued": False,
                    "permissions": {"view": ["admin", "user"], "edit": ["admin"]},
                    "validations": {"pattern": {"pattern": f"^{ORI_PATTERN.pattern}$"}},
                }
            )
            self._call("PUT", f"/admin/realms/{realm}/users/profile", json=profile)

    def delete_realm(self, realm: str) -> None:
        self._call("DELETE", f"/admin/realms/{realm}", missing_ok=True)

    # --- clients ----------------------------------------------------------------------

    def ensure_client(
        self,
        realm: str,
        client_id: str,
        *,
        public: bool,
        mappers: list[dict[str, Any]] | None = None,
        full_scope: bool = True,
    ) -> SecretStr | None:
        """A client with direct access grants (password login, for tests and scripts);
        returns the secret of a confidential client."""
        representation = {
            "clientId": client_id,
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": public,
            "directAccessGrantsEnabled": True,
            "standardFlowEnabled": False,
            "serviceAccountsEnabled": False,
            "fullScopeAllowed": full_scope,
            "protocolMappers": agency_mappers() if mappers is None else mappers,
        }
        self._call("POST", f"/admin/realms/{realm}/clients", json=representation, conflict_ok=True)
        if public:
            return None
        uuid = self._client_uuid(realm, client_id)
        secret = self._call("GET", f"/admin/realms/{realm}/clients/{uuid}/client-secret").json()
        return SecretStr(secret["value"])

    def ensure_console_client(self, realm: str, client_id: str, redirect_uri: str) -> None:
        """A public client for lprx's web console: the authorization code flow only, PKCE
        (S256) required, back to ``redirect_uri`` only; its tokens carry lprx's claims."""
        representation = {
            "clientId": client_id, "enabled": True, "protocol": "openid-connect",
            "publicClient": True, "standardFlowEnabled": True,
            "directAccessGrantsEnabled": False, "implicitFlowEnabled": False,
            "redirectUris": [redirect_uri], "fullScopeAllowed": True,
            "attributes": {"pkce.code.challenge.method": "S256"},
            "protocolMappers": agency_mappers(),
        }  # fmt: skip
        self._call("POST", f"/admin/realms/{realm}/clients", json=representation, conflict_ok=True)

    def ensure_client_roles(self, realm: str, client_id: str, roles: Iterable[str]) -> None:
        uuid = self._client_uuid(realm, client_id)
        for role in roles:
            self._call(
                "POST",
                f"/admin/realms/{realm}/clients/{uuid}/roles",
                json={"name": role},
                conflict_ok=True,
            )

    def _client_uuid(self, realm: str, client_id: str) -> str:
        found = self._call(
            "GET", f"/admin/realms/{realm}/clients", params={"clientId": client_id}
        ).json()
        if not found:
            raise KeycloakError(f"realm {realm} has no client {client_id}")
        return str(found[0]["id"])

    # --- people -----------------------------------------------------------------------

    def create_user(
        self,
        realm: str,
        username: str,
        password: SecretStr,
        *,
        agency_ori: str | None,
        roles: Iterable[str] = (),
        roles_client: str = AUDIENCE_CLIENT,
    ) -> str:
        """A person with a password, their agency ORI and client roles of
        ``roles_client``; returns their id (the ``sub`` of their tokens)."""
        attributes = {AGENCY_ATTRIBUTE: [agency_ori]} if agency_ori is not None else {}
        self._call(
            "POST",
            f"/admin/realms/{realm}/users",
            json={
                "username": username,
                "enabled": True,
                "firstName": username,
                "lastName": realm,
                "email": f"{username}@{realm}.example.org",
                "emailVerified": True,
                "attributes": attributes,
                "credentials": [
                    {"type": "password", "value": password.get_secret_value(), "temporary": False}
                ],
            },
        )
        found = self._call(
            "GET", f"/admin/realms/{realm}/users", params={"username": username, "exact": "true"}
        ).json()
        user_id = str(found[0]["id"])
        wanted = list(roles)
        if wanted:
            uuid = self._client_uuid(realm, roles_client)
            available = [
                self._call("GET", f"/admin/realms/{realm}/clients/{uuid}/roles/{role}").json()
                for role in wanted
            ]
            self._call(
                "POST",
                f"/admin/realms/{realm}/users/{user_id}/role-mappings/clients/{uuid}",
                json=available,
            )
        return user_id

    def password_grant(
        self,
        realm: str,
        client_id: str,
        username: str,
        password: SecretStr,
        client_secret: SecretStr | None = None,
    ) -> str:
        """An access token for ``username`` by the password grant (tests and scripts)."""
        form = {
            "grant_type": "password",
            "client_id": client_id,
            "username": username,
            "password": password.get_secret_value(),
            "scope": "openid",
        }
        if client_secret is not None:
            form["client_secret"] = client_secret.get_secret_value()
        response = self._http.post(f"/realms/{realm}/protocol/openid-connect/token", data=form)
        if response.status_code != 200:
            raise KeycloakError(
                f"Keycloak refused a token for {username} of realm {realm} via client "
                f"{client_id} (HTTP {response.status_code}: {_error_of(response)})"
            )
        return str(response.json()["access_token"])

    # --- the admin API ----------------------------------------------------------------

    def _admin_token(self) -> str:
        response = self._http.post(
            "/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": self._username,
                "password": self._password.get_secret_value(),
            },
        )
        if response.status_code != 200:
            raise KeycloakError(
                f"Keycloak refused the administrator {self._username} (HTTP "
                f"{response.status_code}: {_error_of(response)}); its password file must be "
                "the one the server was first started with"
            )
        return str(response.json()["access_token"])

    def _call(
        self,
        method: str,
        path: str,
        *,
        conflict_ok: bool = False,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        for attempt in (1, 2):
            if self._token is None:
                self._token = self._admin_token()
            headers = {"Authorization": f"Bearer {self._token}"}
            response = self._http.request(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self._token = None  # admin tokens live 60 s: get a new one, once
                continue
            break
        if response.is_success:
            return response
        if (conflict_ok and response.status_code == 409) or (
            missing_ok and response.status_code == 404
        ):
            return response
        raise KeycloakError(
            f"Keycloak refused {method} {path} (HTTP {response.status_code}: {_error_of(response)})"
        )


def _error_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("errorMessage") or body)[:200]
    return str(body)[:200]

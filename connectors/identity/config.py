"""What lprx needs to know about an agency's own identity provider (OpenID Connect)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class OidcProviderConfig(BaseModel):
    """One provider: whose tokens lprx takes, and what they must say."""

    # A misspelt field in LPRX_OIDC_PROVIDERS must fail, not loosen a rule unseen.
    model_config = ConfigDict(frozen=True, extra="forbid")

    oidc_issuer: str | None = Field(
        default=None,
        description="The provider's issuer URL, exactly as tokens name it in `iss` "
        "(Keycloak: https://HOST/realms/REALM); unset, lprx takes no OIDC tokens.",
    )
    oidc_audience: str = Field(
        default="lprx",
        description="What a token's `aud` must contain: the client id of lprx at the "
        "provider (Keycloak: an audience mapper on the client's scope).",
    )
    oidc_authorized_parties: list[str] = Field(
        default_factory=list,
        description="When set, a token's `azp` (the client that asked for it) must be "
        "one of these; empty: any client whose token names lprx in `aud`.",
    )
    oidc_agencies: list[str] = Field(
        default_factory=list,
        description="The agency ORIs this provider may speak for; a token naming another "
        "agency is refused (an agency's provider must not vouch for another agency's "
        "people). Empty: any agency.",
    )
    oidc_required_acr: list[str] = Field(
        default_factory=list,
        description="When set, a token's `acr` (how the person logged in) must be one of "
        "these: the provider's names for a multi-factor login, which the CJIS Security "
        "Policy asks of every person (Keycloak: an ACR-to-LoA mapping). Empty: not checked.",
    )
    oidc_agency_claim: str = Field(
        default="agency_ori",
        description="Claim holding the person's agency ORI (nine characters, MN0270100).",
    )
    oidc_roles_claim: str = Field(
        default="lprx_roles",
        description="Claim holding the person's lprx roles, a list of strings; a dotted "
        "path reads a nested claim (realm_access.roles).",
    )
    oidc_username_claim: str = Field(
        default="preferred_username", description="Claim holding the person's user name."
    )
    oidc_ca_file: Path | None = Field(
        default=None,
        description="CA certificate the provider's TLS certificate must chain to; unset, "
        "the system's trusted CAs.",
    )
    oidc_console_client_id: str | None = Field(
        default=None,
        description="The web console's client at the provider, for the authorization code "
        "flow with PKCE (its redirect URI: https://<api host>/console/oidc/callback); "
        "unset, the console offers no login with this provider.",
    )
    oidc_console_client_secret_file: Path | None = Field(
        default=None,
        description="The console client's secret (0600 file) when the provider made it a "
        "confidential client; unset, a public client (PKCE alone).",
    )
    oidc_console_label: str | None = Field(
        default=None, max_length=100,
        description="What the console's login button says (default: the issuer).",
    )  # fmt: skip
    oidc_leeway_seconds: int = Field(
        default=30, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat."
    )
    oidc_jwks_cache_seconds: float = Field(
        default=3600.0, gt=0, description="How long the provider's signing keys are kept."
    )
    oidc_jwks_refetch_seconds: float = Field(
        default=30.0,
        ge=0,
        description="A token with an unknown key id fetches the keys again at most this "
        "often (a key rotation is seen; a flood of made-up key ids is not forwarded).",
    )
    oidc_http_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Timeout of each request to the provider."
    )


class OidcConfig(OidcProviderConfig):
    """The provider of LPRX_OIDC_ISSUER (and its LPRX_OIDC_* rules), and more of them for
    a consortium whose agencies each sign their people in themselves."""

    oidc_providers: list[OidcProviderConfig] = Field(
        default_factory=list,
        description="More providers, a JSON list of objects with the same fields "
        '([{"oidc_issuer": "https://idp.agency-b.example/realms/b", "oidc_agencies": '
        '["MN0620000"]}]); a token goes to the provider its `iss` names.',
    )

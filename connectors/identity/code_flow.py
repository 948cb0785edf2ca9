"""The authorization code flow with PKCE (RFC 7636, S256) against an agency's provider:
how a person logs in to the web console with their agency's own login page.

    login = start_login(config, redirect_uri)   # PendingLogin: where to send the browser,
                                                # and what to keep until it comes back
    token = finish_login(config, login, code, state, redirect_uri)   # the access token

The provider's endpoints come from its discovery document; the two requests are plain
form posts and redirects (httpx), the S256 challenge one hash. ``state`` ties the answer to
the browser that asked (no one else's code is taken), the PKCE verifier ties the code to
this client (a code seen in transit cannot be redeemed elsewhere). The access token is
then checked like any other (``OidcProviders.verify``); it never appears in a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from connectors.identity.config import OidcProviderConfig
from connectors.identity.keys import http_client
from connectors.security.files import read_secret
from schemas.errors import AccessDenied, ConfigurationError, TransientError

log = logging.getLogger(__name__)

# A login left unfinished this long is forgotten (the browser's cookie expires).
PENDING_LOGIN_SECONDS = 600


@dataclass(frozen=True)
class PendingLogin:
    authorization_url: str
    state: str
    code_verifier: str


def s256_challenge(verifier: str) -> str:
    """RFC 7636 4.2: BASE64URL(SHA256(verifier)), without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def console_client(config: OidcProviderConfig) -> str:
    if not config.oidc_console_client_id:
        raise ConfigurationError(
            f"the provider {config.oidc_issuer} has no console client (oidc_console_client_id)"
        )
    return config.oidc_console_client_id


def _endpoints(config: OidcProviderConfig) -> tuple[str, str]:
    url = f"{str(config.oidc_issuer).rstrip('/')}/.well-known/openid-configuration"
    try:
        with http_client(config) as http:
            document = http.get(url).raise_for_status().json()
        return str(document["authorization_endpoint"]), str(document["token_endpoint"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        raise TransientError(f"the provider's discovery document did not answer: {error}") from None


def start_login(config: OidcProviderConfig, redirect_uri: str) -> PendingLogin:
    """Where to send the browser (the provider's login page), and what to keep."""
    authorize, _token = _endpoints(config)
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    query = urlencode({
        "response_type": "code", "client_id": console_client(config), "scope": "openid",
        "redirect_uri": redirect_uri, "state": state,
        "code_challenge": s256_challenge(verifier), "code_challenge_method": "S256",
    })  # fmt: skip
    separator = "&" if "?" in authorize else "?"
    return PendingLogin(f"{authorize}{separator}{query}", state, verifier)


def finish_login(
    config: OidcProviderConfig, pending: PendingLogin, code: str, state: str, redirect_uri: str
) -> str:
    """The access token for the code the provider sent back; ``AccessDenied`` when the
    answer is not for this login or the provider will not redeem the code."""
    if not state or not hmac.compare_digest(state, pending.state):
        raise AccessDenied("the provider's answer is not for this login (state)")
    if not code or len(code) > 4096:
        raise AccessDenied("the provider sent no code")
    _authorize, token_endpoint = _endpoints(config)
    form = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": console_client(config), "code_verifier": pending.code_verifier,
    }  # fmt: skip
    secret_file = config.oidc_console_client_secret_file
    if secret_file is not None:
        form["client_secret"] = read_secret(secret_file).get_secret_value()
    try:
        with http_client(config) as http:
            response = http.post(token_endpoint, data=form)
    except httpx.HTTPError as error:
        raise TransientError(f"the provider's token endpoint did not answer: {error}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200 or not isinstance(answer, dict):
        why = answer.get("error", "no reason") if isinstance(answer, dict) else "no reason"
        raise AccessDenied(
            f"the provider refused the code (HTTP {response.status_code}: {str(why)[:100]})"
        )
    access = answer.get("access_token")
    if not isinstance(access, str) or not access:
        raise AccessDenied("the provider answered without an access token")
    return access

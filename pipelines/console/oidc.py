"""The console's login with an agency's own provider (OpenID Connect, the authorization
code flow with PKCE; connectors/identity/code_flow.py).

    GET /console/oidc/start?provider=N&next=...   to the provider's login page
    GET /console/oidc/callback?code=...&state=...  back: the code redeemed, the token
                                                   checked, the console's session set

What the browser must bring back (the state, the PKCE verifier) waits in a cookie of
its own (HttpOnly, Secure, path ``/console/oidc``, ten minutes). It is SameSite=Lax,
not Strict: the provider sends the browser back by a cross-site redirect, with which a
Strict cookie would not travel; the state in it is what makes an answer this browser's.
The session is the provider's access token itself, checked on every page like any
bearer token (issuer, keys, audience, agency, roles, expiry), so it ends when the token
does; it goes in the console's usual session cookie (SameSite=Strict). Each login and
each refusal is audited.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from connectors.identity.code_flow import (
    PENDING_LOGIN_SECONDS,
    PendingLogin,
    finish_login,
    start_login,
)
from connectors.identity.config import OidcConfig, OidcProviderConfig
from pipelines.api import people
from pipelines.api.deps import ApiServices
from pipelines.console.guard import PREFIX, safe_next, set_cookie
from pipelines.identity.auth import SESSION_COOKIE
from pipelines.services.scope import audit_refusal
from schemas.errors import AccessDenied, LprxError
from schemas.records import AuditOutcome

PENDING_COOKIE = "lprx_oidc"
_PENDING_PATH = f"{PREFIX}/oidc"

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def console_providers(config: OidcConfig) -> list[OidcProviderConfig]:
    """The providers people may log in to the console with (those with a console
    client), in the order the login page lists them."""
    every: list[OidcProviderConfig] = [config] if config.oidc_issuer else []
    return [p for p in [*every, *config.oidc_providers] if p.oidc_console_client_id]


def provider_buttons(config: OidcConfig) -> list[tuple[int, str]]:
    return [(i, p.oidc_console_label or str(p.oidc_issuer))
            for i, p in enumerate(console_providers(config))]  # fmt: skip


def _api(request: Request) -> ApiServices:
    found: ApiServices = request.app.state.services
    return found


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


def _encode(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def _pending(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(PENDING_COOKIE, "")
    try:
        values = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    wanted = {"provider": int, "state": str, "verifier": str, "next": str}
    if not isinstance(values, dict) or any(
        not isinstance(values.get(k), t) for k, t in wanted.items()
    ):
        return None
    return values


def _refused(request: Request, reason: str, status: int) -> Response:
    from pipelines.console.pages import login_form

    api = _api(request)
    event = people.account_event(None, "oidc", None, f"console login refused: {reason}",
                                  AuditOutcome.DENIED)  # fmt: skip
    audit_refusal(api.trail, event)
    answer = login_form(request, f"{PREFIX}/", [f"Login with your agency refused: {reason}"],
                        status)  # fmt: skip
    answer.delete_cookie(PENDING_COOKIE, path=_PENDING_PATH, secure=True, httponly=True)
    return answer


@router.get("/oidc/start")
def oidc_start(request: Request, provider: int = 0, next: str | None = None) -> Response:
    providers = console_providers(_api(request).settings)
    if not 0 <= provider < len(providers):
        return _refused(request, "no such provider", 404)
    try:
        pending = start_login(providers[provider], _callback_url(request))
    except LprxError as error:
        return _refused(request, str(error), 503)
    answer = RedirectResponse(pending.authorization_url, status_code=303)
    kept = {"provider": provider, "state": pending.state, "verifier": pending.code_verifier,
            "next": safe_next(next)}  # fmt: skip
    answer.set_cookie(PENDING_COOKIE, _encode(kept), max_age=PENDING_LOGIN_SECONDS,
                      path=_PENDING_PATH, httponly=True, secure=True, samesite="lax")  # fmt: skip
    return answer


@router.get("/oidc/callback")
async def oidc_callback(
    request: Request, code: str = "", state: str = "", error: str = ""
) -> Response:
    api = _api(request)
    pending = _pending(request)
    providers = console_providers(api.settings)
    if pending is None or not 0 <= pending["provider"] < len(providers):
        return _refused(request, "the login expired or was not started here: start it again", 403)
    provider = providers[pending["provider"]]
    try:
        if error:
            raise AccessDenied(f"the provider answered {error[:100]!r}")
        token = await run_in_threadpool(
            finish_login, provider, PendingLogin("", pending["state"], pending["verifier"]),
            code, state, _callback_url(request),
        )  # fmt: skip
        principal = await run_in_threadpool(api.auth.principal, token)
        if principal.via != "oidc":
            raise AccessDenied("the provider's token is not one of its access tokens")
    except AccessDenied as refused:
        return _refused(request, str(refused), 401)
    except LprxError as failed:
        return _refused(request, str(failed), 503)
    api.trail.record_acknowledged(people.account_event(
        None, principal.username, principal.agency_ori,
        f"console login via {provider.oidc_issuer}",
    ))  # fmt: skip
    done = RedirectResponse(pending["next"], status_code=303)
    # The token's own expiry ends the session sooner; the cookie never outlives the limit.
    set_cookie(done, SESSION_COOKIE, token, max_age=int(api.settings.api_session_absolute_hours
                                                         * 3600))  # fmt: skip
    done.delete_cookie(PENDING_COOKIE, path=_PENDING_PATH, secure=True, httponly=True)
    return done

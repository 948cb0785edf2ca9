"""The console's session cookie, its CSRF tokens, and the guard of every page.

- The cookie carries the API's own session token (same idle and absolute limits, checked
  by the API's ``authenticate``): HttpOnly, Secure, SameSite=Strict.
- CSRF: every form POST carries a synchronizer token derived from the session token
  (HMAC-SHA256 keyed by it), so it is per session, needs no storage, and a page of
  another site can neither read nor compute it. The login form, before any session, is
  a double-submit: a random cookie and the same value in the form.
- A page without a valid session redirects to the login page; a role lacking the
  permission gets a 403 page; a session whose password change is due goes to the
  password page. All go through the API's ``allowed``, so each refusal is audited
  exactly as the API audits it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from pipelines.api.deps import ApiServices, PasswordChangeDue, allowed, refusal_event
from pipelines.identity.auth import SESSION_COOKIE
from pipelines.services.scope import audit_refusal
from schemas.people import Permission, Principal

PREFIX = "/console"
LOGIN_CSRF_COOKIE = "lprx_login_csrf"
CSRF_FIELD = "csrf"


class PageAnswer(Exception):
    """Ends a page early with this response (a redirect, a refusal page)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"lprx-console-csrf", hashlib.sha256).hexdigest()


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(response: Response, name: str, value: str, max_age: int, path: str = "/") -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=path, httponly=True, secure=True, samesite="strict"
    )


def _wanted(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def password_redirect(next_page: str) -> RedirectResponse:
    """To the page where a person whose password change is due makes it."""
    return RedirectResponse(f"{PREFIX}/password?next={_quote(next_page)}", status_code=303)


def login_redirect(request: Request) -> RedirectResponse:
    answer = RedirectResponse(f"{PREFIX}/login?next={_quote(_wanted(request))}", status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return answer


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def safe_next(value: Any) -> str:
    """Where to go after login: a console page of this site only (no open redirect)."""
    if (
        isinstance(value, str)
        and value.startswith(f"{PREFIX}/")
        and "//" not in value
        and "\\" not in value
        and len(value) < 500
    ):
        return value
    return f"{PREFIX}/"


def person(request: Request, api: ApiServices, *permissions: Permission) -> Principal:
    """The logged-in person holding one of ``permissions`` (none: any person), through the
    API's own check; otherwise ends the page: the login page, or a 403 page."""
    from pipelines.console.render import page

    try:
        return allowed(*permissions)(request, api, None)
    except PasswordChangeDue:
        wanted = _wanted(request) if request.method == "GET" else f"{PREFIX}/"
        raise PageAnswer(password_redirect(safe_next(wanted))) from None
    except HTTPException as refused:
        if refused.status_code == 401:
            raise PageAnswer(login_redirect(request)) from None
        raise PageAnswer(
            page(
                request,
                "error.html",
                None,
                status=refused.status_code,
                title="Not allowed",
                message=str(refused.detail),
            )
        ) from None


def check_csrf(request: Request, api: ApiServices, principal: Principal, sent: Any) -> None:
    """Refuses (403, audited) a form whose token is not this session's."""
    from pipelines.console.render import page

    token = request.cookies.get(SESSION_COOKIE, "")
    if isinstance(sent, str) and token and hmac.compare_digest(sent, csrf_token(token)):
        return
    reason = "the form's CSRF token is missing or not this session's"
    audit_refusal(
        api.trail, refusal_event(request, principal.username, principal.agency_ori, reason)
    )
    raise PageAnswer(
        page(
            request,
            "error.html",
            principal,
            status=403,
            title="Form refused",
            message=f"{reason}: reload the page and send it again.",
        )
    )

"""The console's page for one's own password (``/console/password``).

A person whose password was set by someone else (an administrator, a reset's one-time
password) is sent here after login, and from any other page, until they change it
(CJIS IA-5; the rule is the API's, pipelines/api/deps.py). Anyone logged in with an lprx
password may come here to change it; a person of an agency's own identity provider
changes it there. A change ends every other session of the person (other browsers, the
CLI's token); this one goes on (the API's route does both, and audits them).

    GET  /console/password, POST /console/password   the current password, a new one twice
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from pipelines.api import people
from pipelines.console.guard import PREFIX, person, safe_next
from pipelines.console.pages import ConsoleRoute, _api, _posted
from pipelines.console.render import page
from schemas.errors import LprxError
from schemas.people import Principal

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def _password_form(
    request: Request, principal: Principal, next_page: str, problems: list[str], status: int
) -> Response:
    return page(
        request,
        "password.html",
        principal,
        status=status,
        next_page=next_page,
        problems=problems,
        own_password=principal.via == "session",
        min_length=_api(request).settings.api_password_min_length,
    )


@router.get("/password")
def password_page(request: Request, next: str | None = None) -> Response:
    principal = person(request, _api(request))
    status = 200 if principal.via == "session" else 403
    return _password_form(request, principal, safe_next(next), [], status)


@router.post("/password")
async def change_password(request: Request) -> Response:
    fields, api, principal = await _posted(request)
    next_page = safe_next(fields.get("next"))
    if principal.via != "session":
        return _password_form(request, principal, next_page, [], 403)
    new = fields.get("new_password", "")
    if new != fields.get("confirm_password", ""):
        problem = "The new password and its confirmation differ."
        return _password_form(request, principal, next_page, [problem], 400)
    try:
        body = people.PasswordChange.model_validate(
            {"current_password": fields.get("current_password", ""), "new_password": new}
        )
        await run_in_threadpool(people.change_password, request, body, principal, api)
    except ValidationError:
        return _password_form(request, principal, next_page, ["A password is too long."], 400)
    except HTTPException as refused:
        return _password_form(
            request, principal, next_page, [str(refused.detail)], refused.status_code
        )
    except LprxError as refused:
        return _password_form(request, principal, next_page, [str(refused)], 400)
    return RedirectResponse(next_page, status_code=303)

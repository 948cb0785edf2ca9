"""The console's pages. Each calls the API's own route function (``pipelines.api``), so
the scoping, the justification and the audit of a page are those of the API call it
makes; a page only turns a form into the API's request model and its answer into HTML.

    GET  /console/login, POST /console/login    password + TOTP, the system-use banner
    POST /console/logout
    GET  /console/                              who one is, what one may do
    GET  /console/search, POST /console/search  scoped search, results and their map
    GET  /console/hits                          the hits inbox of one's agency
    POST /console/hits/{hit_id}/disposition     what one's agency decided
    POST /console/crops/{read_id}               a read's plate crop (justified)
    GET  /console/agreements                    the agreements of one's agency
    POST /console/agreements/{partner}/approve|reject   a widening's second approver
                                                (console/approvals.py)
    GET  /console/audit                         the audit trail (auditor, supervisor)
    GET  /console/notices, POST .../{id}/filed  the BCA notices of one's agency
                                                (console/notices.py)
    GET  /console/password, POST ...            one's own password (console/account.py)
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import FormData

from pipelines.api import admin, people, reads
from pipelines.api.app import _status as status_of
from pipelines.api.deps import ApiServices
from pipelines.console.forms import carried, problems_of, search_request
from pipelines.console.guard import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    PREFIX,
    PageAnswer,
    check_csrf,
    new_login_csrf,
    password_redirect,
    person,
    safe_next,
    set_cookie,
)
from pipelines.console.oidc import provider_buttons
from pipelines.console.render import page
from pipelines.console.svgmap import MapPoint, reads_map
from pipelines.identity.auth import SESSION_COOKIE
from schemas.errors import LprxError
from schemas.people import Permission, Principal, Purpose
from schemas.records import Disposition, utcnow

MAX_FORM_FIELD = 4000
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_COUNT = re.compile(r"[0-9]{1,4}")
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class ConsoleRoute(APIRoute):
    """Every answer of a console route is a page: a refusal, a bad form or a service not
    answering renders the error page with its status (never a 500 or a JSON body)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except PageAnswer as early:
                return early.response
            except LprxError as error:
                status = status_of(error)
                return page(
                    request, "error.html", None, status=status, title="Not done", message=str(error)
                )
            except HTTPException as refused:
                return page(
                    request,
                    "error.html",
                    None,
                    status=refused.status_code,
                    title="Not done",
                    message=str(refused.detail),
                )
            except RequestValidationError:
                return page(
                    request,
                    "error.html",
                    None,
                    status=400,
                    title="Bad request",
                    message="The address or form holds values the console does not take.",
                )

        return answer


router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def install_console(app: FastAPI) -> None:
    """Mounts the console's pages in the API's app (kept out of its OpenAPI)."""
    from pipelines.console import account, approvals, notices, oidc

    # Before the pages' catch-all "no such page".
    app.include_router(oidc.router)
    app.include_router(account.router)
    app.include_router(approvals.router)
    app.include_router(notices.router)
    app.include_router(router)


def _api(request: Request) -> ApiServices:
    found: ApiServices = request.app.state.services
    return found


async def _posted(
    request: Request, *permissions: Permission
) -> tuple[dict[str, str], ApiServices, Principal]:
    """A posted form of a logged-in person holding one of ``permissions``, its CSRF
    token checked: the fields, the API's services and the person."""
    fields = await _form(request)
    api = _api(request)
    principal = await run_in_threadpool(person, request, api, *permissions)
    check_csrf(request, api, principal, fields.get(CSRF_FIELD))
    return fields, api, principal


def _error(
    request: Request, principal: Principal, status: int, title: str, message: str
) -> Response:
    return page(request, "error.html", principal, status=status, title=title, message=message)


async def _form(request: Request) -> dict[str, str]:
    """The form's fields as text (a file or an over-long value refused as a bad form)."""
    try:
        form: FormData = await request.form(max_files=0, max_fields=100)
    except Exception:
        raise PageAnswer(
            page(
                request,
                "error.html",
                None,
                status=400,
                title="Bad request",
                message="The form could not be read.",
            )
        ) from None
    fields: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str) or len(value) > MAX_FORM_FIELD:
            raise PageAnswer(
                page(
                    request,
                    "error.html",
                    None,
                    status=400,
                    title="Bad request",
                    message=f"The field {key[:40]!r} is not text the console takes.",
                )
            ) from None
        fields[key] = value
    return fields


# Login and logout


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return login_form(request, safe_next(next), [], 200)


def login_form(request: Request, next_page: str, problems: list[str], status: int) -> Response:
    token = new_login_csrf()
    limits = _api(request).settings
    answer = page(
        request,
        "login.html",
        None,
        status=status,
        login_csrf=token,
        next_page=next_page,
        problems=problems,
        limits=limits,
        providers=provider_buttons(limits),
    )
    set_cookie(answer, LOGIN_CSRF_COOKIE, token, max_age=1800, path=f"{PREFIX}/login")
    return answer


@router.post("/login")
async def login(request: Request) -> Response:
    fields = await _form(request)
    next_page = safe_next(fields.get("next"))
    sent, kept = fields.get(CSRF_FIELD, ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not sent or not kept or not hmac.compare_digest(sent, kept):
        return login_form(request, next_page, ["The login form expired: send it again."], 403)
    try:
        body = people.LoginRequest.model_validate(
            {k: fields.get(k, "") for k in ("username", "password", "code")}
        )
    except ValidationError:
        return login_form(request, next_page, ["Username, password or code is too long."], 400)
    api = _api(request)
    try:
        answer = await run_in_threadpool(people.login, body, api)
    except HTTPException as refused:
        return login_form(request, next_page, [str(refused.detail)], refused.status_code)
    # A password someone else set is changed before anything else (CJIS IA-5).
    done = password_redirect(next_page) if answer.password_change_required else None
    done = done or RedirectResponse(next_page, status_code=303)
    lifetime = int((answer.expires_at - utcnow()).total_seconds())
    set_cookie(done, SESSION_COOKIE, answer.token, max_age=max(lifetime, 1))
    done.delete_cookie(
        LOGIN_CSRF_COOKIE, path=f"{PREFIX}/login", secure=True, httponly=True, samesite="strict"
    )
    return done


@router.post("/logout")
async def logout(request: Request) -> Response:
    _fields, api, principal = await _posted(request)
    await run_in_threadpool(people.logout, request, principal, api, None)
    done = RedirectResponse(f"{PREFIX}/login", status_code=303)
    done.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return done


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    principal = person(request, _api(request))
    return page(request, "home.html", principal)


# Search


def _window_defaults() -> dict[str, str]:
    now = utcnow().replace(second=0, microsecond=0)
    return {
        "start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "end": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
        "limit": "50",
        "area": "none",
    }


@router.get("/search")
def search_page(request: Request) -> Response:
    principal = person(request, _api(request), Permission.SEARCH_READS)
    return _search(request, principal, _window_defaults(), problems=[], status=200)


def _search(
    request: Request,
    principal: Principal,
    fields: Mapping[str, str],
    *,
    problems: list[str],
    status: int,
    answer: reads.SearchAnswer | None = None,
) -> Response:
    points = [
        MapPoint(r.latitude, r.longitude, f"{r.plate} {r.collected_at:%m-%d %H:%M}")
        for r in (answer.reads if answer else [])
        if r.latitude is not None and r.longitude is not None
    ]
    return page(
        request,
        "search.html",
        principal,
        status=status,
        form=fields,
        purposes=list(Purpose),
        problems=problems,
        answer=answer,
        map_svg=reads_map(points),
        carried=carried(fields),
    )


@router.post("/search")
async def search(request: Request) -> Response:
    fields, api, principal = await _posted(request, Permission.SEARCH_READS)
    try:
        body = search_request(fields)
    except ValueError as problem:
        return _search(request, principal, fields, problems=str(problem).split("; "), status=400)
    try:
        answer = await run_in_threadpool(reads.search, body, principal, api)
    except LprxError as refused:
        return _search(
            request, principal, fields, problems=[str(refused)], status=status_of(refused)
        )
    return _search(request, principal, fields, problems=[], status=200, answer=answer)


# Hits, crops, dispositions


@router.get("/hits")
def hits_page(request: Request, disposed: str | None = None) -> Response:
    api = _api(request)
    principal = person(request, api, Permission.READ_HITS)
    rows = reads.hits(principal, api, limit=100)
    done = None
    if disposed and _ID.fullmatch(disposed):
        done = disposed
    return page(
        request,
        "hits.html",
        principal,
        hits=rows,
        done=done,
        dispositions=list(Disposition),
        may_dispose=principal.can(Permission.DISPOSE_HITS),
        may_crop=principal.can(Permission.READ_CROPS),
    )


@router.post("/hits/{hit_id}/disposition")
async def dispose(request: Request, hit_id: str) -> Response:
    fields, api, principal = await _posted(request, Permission.DISPOSE_HITS)
    if not _ID.fullmatch(hit_id):
        return _error(request, principal, 404, "No such hit", "That is not a hit id.")
    try:
        body = reads.DispositionRequest.model_validate(
            {"disposition": fields.get("disposition", ""), "note": fields.get("note") or None}
        )
    except ValidationError as error:
        return _error(request, principal, 400, "Bad disposition", "; ".join(problems_of(error)))
    await run_in_threadpool(reads.dispose, hit_id, body, principal, api)
    return RedirectResponse(f"{PREFIX}/hits?disposed={hit_id}", status_code=303)


@router.post("/crops/{read_id}")
async def crop(request: Request, read_id: str) -> Response:
    fields, api, principal = await _posted(request, Permission.READ_CROPS)
    if not _ID.fullmatch(read_id):
        return _error(request, principal, 404, "No such read", "That is not a read id.")
    try:
        why = reads.Why.model_validate(
            {k: fields.get(k, "") for k in ("purpose", "case_number", "factual_basis")}
        )
    except ValidationError as error:
        problems = "; ".join(problems_of(error))
        return _error(request, principal, 400, "Justification needed", problems)
    found = await run_in_threadpool(reads.crop, read_id, why, principal, api)
    return page(request, "crop.html", principal, crop=found)


# Agreements, audit


@router.get("/agreements")
def agreements_page(
    request: Request, approved: str | None = None, rejected: str | None = None
) -> Response:
    api = _api(request)
    principal = person(
        request, api, Permission.MANAGE_AGREEMENTS, Permission.APPROVE_AGREEMENTS,
        Permission.SEARCH_READS, Permission.READ_HITS,
    )  # fmt: skip
    from pipelines.services.agreements import policy_lines

    views = admin.agreements_of(api, principal.agency_ori)
    policy = policy_lines(principal.agency_ori, [v.model_dump(mode="json") for v in views])
    done = None
    if approved and _ID.fullmatch(approved):
        done = f"The widening of the agreement with {approved} is approved and in force."
    elif rejected and _ID.fullmatch(rejected):
        done = f"The widening of the agreement with {rejected} is rejected; its terms stay."
    return page(
        request, "agreements.html", principal, agreements=views, policy=policy, done=done,
        may_approve=principal.can(Permission.APPROVE_AGREEMENTS),
    )  # fmt: skip


@router.get("/audit")
def audit_page(request: Request, day: str | None = None, limit: str | None = None) -> Response:
    api = _api(request)
    principal = person(request, api, Permission.READ_AUDIT, Permission.REVIEW_SEARCHES)
    wanted = (day or "").strip() or utcnow().date().isoformat()
    count = int(limit) if limit and _COUNT.fullmatch(limit) and 1 <= int(limit) <= 1000 else 100
    if not _DAY.fullmatch(wanted):
        return _error(request, principal, 400, "Bad day", "The day is YYYY-MM-DD (UTC).")
    rows = reads.audit(principal, api, day=wanted, limit=count)
    return page(
        request,
        "audit.html",
        principal,
        events=rows,
        day=wanted,
        limit=count,
        searches_only=not principal.can(Permission.READ_AUDIT),
    )


@router.api_route("/{unknown:path}", methods=["GET", "POST"])
def no_such_page(request: Request, unknown: str) -> Response:
    """Any other address under the console: a 404 page (last, so it matches only then)."""
    return page(
        request,
        "error.html",
        None,
        status=404,
        title="No such page",
        message="The console has no page at that address.",
    )

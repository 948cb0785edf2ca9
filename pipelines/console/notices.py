"""The BCA notices of one's agency, in the console (Minn. Stat. 13.824 subd. 8): a camera
installed or a fixed one moved makes a notice the agency files with the BCA within ten
days (``lprx cameras notices``). The agency's administrator lists them here and records
one as filed, with the BCA's receipt or the letter's reference. The pages call the API's
own route functions (``pipelines/api/cameras.py``), so the permission (``manage_cameras``),
its refusal and the audit of a filing are the API's.

    GET  /console/notices[?all=1]               pending notices, soonest due first (or all)
    POST /console/notices/{notice_id}/filed     filed on a day (default today), a reference
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from pipelines.api import cameras
from pipelines.api.app import _status as status_of
from pipelines.console.forms import problems_of
from pipelines.console.guard import PREFIX, person
from pipelines.console.pages import ConsoleRoute, _api, _error, _posted
from pipelines.console.render import page
from schemas.errors import LprxError
from schemas.people import Permission, Principal
from schemas.records import utcnow

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
_NOTICE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _notices(
    request: Request,
    principal: Principal,
    *,
    show_all: bool,
    done: str | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    found = cameras.list_notices(principal, _api(request), all=show_all)
    return page(
        request,
        "notices.html",
        principal,
        status=status,
        notices=found,
        show_all=show_all,
        done=done,
        problems=problems or [],
        today=utcnow().date().isoformat(),
    )


@router.get("/notices")
def notices_page(request: Request, all: str | None = None, filed: str | None = None) -> Response:
    principal = person(request, _api(request), Permission.MANAGE_CAMERAS)
    done = None
    if filed and _NOTICE_ID.fullmatch(filed):
        done = f"Notice {filed} is recorded as filed with the BCA."
    return _notices(request, principal, show_all=all == "1", done=done)


@router.post("/notices/{notice_id}/filed")
async def notice_filed(request: Request, notice_id: str) -> Response:
    fields, api, principal = await _posted(request, Permission.MANAGE_CAMERAS)
    if not _NOTICE_ID.fullmatch(notice_id):
        return _error(request, principal, 404, "No such notice", "That is not a notice id.")
    try:
        body = cameras.FiledRequest.model_validate({
            "filed_on": fields.get("filed_on") or None, "reference": fields.get("reference", ""),
        })  # fmt: skip
    except ValidationError as error:
        return _notices(request, principal, show_all=False, problems=problems_of(error), status=400)
    try:
        await run_in_threadpool(cameras.notice_filed, notice_id, body, principal, api)
    except LprxError as refused:
        return _notices(
            request, principal, show_all=False, problems=[str(refused)], status=status_of(refused)
        )
    return RedirectResponse(f"{PREFIX}/notices?filed={notice_id}", status_code=303)

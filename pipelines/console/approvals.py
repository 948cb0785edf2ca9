"""The second approver's side of the sharing policy, in the console: a supervisor or an
administrator of the agency approves or rejects a widening another person proposed
(``lprx agreements approve|reject``). The page calls the API's own route functions, so
the checks (not the proposer, the permission) and the audit are the API's.

    POST /console/agreements/{partner}/approve   the widening in force now
    POST /console/agreements/{partner}/reject    the widening dropped; the terms in force stay
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from pipelines.api import admin
from pipelines.api.deps import ApiServices
from pipelines.console.guard import PREFIX
from pipelines.console.pages import ConsoleRoute, _error, _posted
from schemas.people import Permission, Principal

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
_ORI = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")


@router.post("/agreements/{partner}/approve")
async def approve(request: Request, partner: str) -> Response:
    return await _decide(request, partner, admin.approve_agreement, "approved")


@router.post("/agreements/{partner}/reject")
async def reject(request: Request, partner: str) -> Response:
    return await _decide(request, partner, admin.reject_agreement, "rejected")


async def _decide(
    request: Request,
    partner: str,
    decide: Callable[[str, Principal, ApiServices], object],
    decided: str,
) -> Response:
    """The second approver's decision on the widening of ``partner``'s agreement."""
    _fields, api, principal = await _posted(request, Permission.APPROVE_AGREEMENTS)
    if not _ORI.fullmatch(partner):
        return _error(request, principal, 404, "No such agreement", "That is not an ORI.")
    await run_in_threadpool(decide, partner, principal, api)
    return RedirectResponse(f"{PREFIX}/agreements?{decided}={partner}", status_code=303)

"""Pages rendered from the package's Jinja2 templates, with headers that keep them out of
caches and other sites' frames, and no script or asset from anywhere else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pipelines.console.guard import CSRF_FIELD, PREFIX, csrf_token
from pipelines.identity.auth import SESSION_COOKIE, SYSTEM_USE_BANNER
from schemas.people import Permission, Principal

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def when(value: object) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS`` (UTC), from a datetime or its ISO text."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        at = value.astimezone(UTC) if value.tzinfo else value
        return at.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


templates.env.filters["when"] = when

# No script at all; styles inline; images only the crops the page itself carries.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages show criminal justice information: never kept by the browser or a proxy.
    "Cache-Control": "no-store",
}

NAVIGATION = (
    ("search", "Search reads", (Permission.SEARCH_READS,)),
    ("hits", "Hits inbox", (Permission.READ_HITS,)),
    (
        "agreements",
        "Agreements",
        (
            Permission.MANAGE_AGREEMENTS,
            Permission.APPROVE_AGREEMENTS,
            Permission.SEARCH_READS,
            Permission.READ_HITS,
        ),
    ),
    ("audit", "Audit trail", (Permission.READ_AUDIT, Permission.REVIEW_SEARCHES)),
    ("notices", "BCA notices", (Permission.MANAGE_CAMERAS,)),
)


def page(
    request: Request,
    template: str,
    principal: Principal | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    token = request.cookies.get(SESSION_COOKIE)
    links = [
        (f"{PREFIX}/{slug}", label)
        for slug, label, needs in NAVIGATION
        if principal is not None
        and not principal.must_change_password  # those pages send it to the password page
        and any(principal.can(p) for p in needs)
    ]
    values = {
        "prefix": PREFIX,
        "principal": principal,
        "links": links,
        "banner": SYSTEM_USE_BANNER,
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(token) if token and principal is not None else "",
        **context,
    }
    return templates.TemplateResponse(
        request, template, values, status_code=status, headers=SECURITY_HEADERS
    )

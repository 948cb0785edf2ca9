"""What every route of the API (and page of the web console) shares: the services it
calls, and the one dependency that authenticates the caller and checks a permission.

A credential is a bearer token (``Authorization: Bearer ...``); the session cookie the
console sets (``lprx_session``) counts on the console's own pages only, whose forms carry
a CSRF token (pipelines/console/guard.py). A browser sends that cookie with any request
to this host, a forged cross-site form too, so ``/v1/...`` never takes it: a script or a
tool sends its token itself, which another site cannot make a browser do. A call without
a valid credential gets 401, a call whose roles lack the permission 403; both are
audited as DENIED (action ACCESS_DENIED) with the route and the reason.

A session begun with a password someone else set (an administrator's choice, a reset's
one-time password: ``Account.must_change_password``) may change that password and log
out, nothing else (CJIS IA-5): any other route answers 403 (``PasswordChangeDue``,
audited the same way) and the console sends the person to its password page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from connectors.kafka.audit import AuditWriter
from pipelines.identity.auth import SESSION_COOKIE, Authenticator
from pipelines.services.scope import audit_refusal
from pipelines.settings import Settings
from pipelines.stages.share import AgreementBook
from schemas.errors import AccessDenied
from schemas.people import Permission, Principal
from schemas.records import AuditAction, AuditEvent, AuditOutcome, PlateCrop, new_id, utcnow

if TYPE_CHECKING:
    from pipelines.services.audit_chain import ChainStore
    from pipelines.services.cameras import Registry
    from pipelines.services.holds import Holds
    from pipelines.services.transparency import UsageSource

bearer = HTTPBearer(auto_error=False, description="An lprx session token (POST /v1/login), "
                    "a service key, or an OpenID Connect access token")  # fmt: skip


class ApiStore(Protocol):
    """The look-ups the API makes (``connectors.cassandra.CassandraStore``)."""

    def plate_reads(self, plate: str, start: Any, end: Any, limit: int) -> list[Any]: ...
    def day_reads(
        self, agency_ori: str, day: str, start: Any, end: Any, limit: int
    ) -> list[Any]: ...
    def hits_for_agency(self, agency_ori: str, limit: int = 100) -> list[dict[str, Any]]: ...
    def plate_crop(self, read_id: str) -> PlateCrop | None: ...
    def audit_events(self, day: str, limit: int = 100) -> list[dict[str, Any]]: ...
    def find_hit(self, hit_id: str) -> Any: ...


@dataclass
class ApiServices:
    settings: Settings
    auth: Authenticator
    trail: AuditWriter
    book: AgreementBook
    store: ApiStore
    # The holds (on their own, narrower Cassandra session: they rewrite read TTLs), the
    # audit chain and the usage counters; a route whose store is missing answers 503.
    holds: Holds | None = None
    chain: ChainStore | None = None
    usage: UsageSource | None = None
    cameras: Registry | None = None  # the camera registry (13.824 subd. 8)
    # What keeps the API from serving now (``/readyz``): one line per problem.
    readiness: Callable[[], list[str]] | None = None


def services(request: Request) -> ApiServices:
    found: ApiServices = request.app.state.services
    return found


Services = Annotated[ApiServices, Depends(services)]


def refusal_event(request: Request, actor: str, agency: str | None, reason: str) -> AuditEvent:
    client = request.client.host if request.client else "unknown"
    return AuditEvent(
        event_id=new_id(), occurred_at=utcnow(), actor=actor, actor_agency_ori=agency,
        action=AuditAction.ACCESS_DENIED, target_kind="api",
        target_id=f"{request.method} {request.url.path}", outcome=AuditOutcome.DENIED,
        details={"reason": reason, "client": client},
    )  # fmt: skip


CONSOLE_PREFIX = "/console"


def is_console(path: str) -> bool:
    """A page of the web console: the only place the session cookie counts."""
    return path == CONSOLE_PREFIX or path.startswith(f"{CONSOLE_PREFIX}/")


def token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    if credentials is not None:
        return credentials.credentials
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE) if is_console(request.url.path) else None


# What a session whose password change is due may still do.
PASSWORD_CHANGE_ROUTES = frozenset({
    ("POST", "/v1/me/password"), ("POST", "/v1/logout"),
    ("GET", f"{CONSOLE_PREFIX}/password"), ("POST", f"{CONSOLE_PREFIX}/password"),
    ("POST", f"{CONSOLE_PREFIX}/logout"),
})  # fmt: skip
CHANGE_DUE_MESSAGE = (
    "your password was set by an administrator (or is a one-time password) and must be "
    "changed before anything else: POST /v1/me/password (`lprx password`, or the "
    "console's password page); until then only that and logging out work"
)


class PasswordChangeDue(HTTPException):
    """403: this session may only change its password (or log out)."""

    def __init__(self) -> None:
        super().__init__(403, CHANGE_DUE_MESSAGE)


def authenticate(
    request: Request, api: ApiServices, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    try:
        principal = api.auth.principal(token_of(request, credentials))
    except AccessDenied as error:
        audit_refusal(api.trail, refusal_event(request, "anonymous", None, str(error)))
        raise HTTPException(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from None
    if principal.must_change_password and (
        (request.method, request.url.path) not in PASSWORD_CHANGE_ROUTES
    ):
        reason = f"password change due for {principal.username}: {CHANGE_DUE_MESSAGE}"
        audit_refusal(
            api.trail, refusal_event(request, principal.username, principal.agency_ori, reason)
        )
        raise PasswordChangeDue
    return principal


def allowed(*permissions: Permission) -> Callable[..., Principal]:
    """A dependency: the caller, authenticated, holding one of ``permissions``."""

    def dependency(
        request: Request,
        api: Services,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        principal = getattr(request.state, "principal", None) or authenticate(
            request, api, credentials
        )
        if permissions and not any(principal.can(p) for p in permissions):
            reason = f"the roles of {principal.username} do not allow " + " or ".join(permissions)
            audit_refusal(
                api.trail, refusal_event(request, principal.username, principal.agency_ori, reason)
            )
            raise HTTPException(403, reason)
        return principal

    return dependency


Anyone = Annotated[Principal, Depends(allowed())]

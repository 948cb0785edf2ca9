"""Login, the session, and people: who may add whom.

An agency administrator adds people of its own agency (investigator, supervisor,
auditor); the consortium operator adds agency administrators, other operators and
service accounts, of any agency. Every change is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field, SecretStr

from pipelines.api.deps import Anyone, Services, allowed, bearer, token_of
from pipelines.identity.accounts import LoginRefused
from pipelines.identity.auth import SYSTEM_USE_BANNER
from pipelines.services.scope import audit_refusal
from schemas.errors import AccessDenied, NotFound, RequestRefused
from schemas.people import AGENCY_GRANTABLE, Account, AccountKind, Permission, Principal, Role
from schemas.records import AuditAction, AuditEvent, AuditOutcome, new_id, utcnow

router = APIRouter()

Username = Annotated[str, Field(min_length=2, max_length=64, pattern=r"^[a-z0-9._-]+$")]
Ori = Annotated[str, Field(min_length=9, max_length=9, pattern=r"^[A-Z]{2}[A-Z0-9]{7}$")]


class Health(BaseModel):
    status: str
    banner: str


class LoginRequest(BaseModel):
    username: Annotated[str, Field(max_length=64)]
    password: Annotated[SecretStr, Field(max_length=1024)]
    code: Annotated[str, Field(max_length=16, description="The TOTP code of the second factor.")]


class LoginAnswer(BaseModel):
    token: str
    expires_at: datetime
    idle_minutes: float
    username: str
    agency_ori: str
    roles: list[Role]
    banner: str
    password_change_required: bool = Field(
        default=False,
        description="The password was set by an administrator (or is a one-time "
        "password): this session may only change it (POST /v1/me/password) or log out.",
    )


class Me(BaseModel):
    username: str
    agency_ori: str
    roles: list[Role]
    permissions: list[Permission]
    via: str


class NewPersonRequest(BaseModel):
    username: Username
    agency_ori: Ori | None = Field(
        default=None, description="Default: the administrator's own agency."
    )
    roles: Annotated[list[Role], Field(min_length=1, max_length=6)]
    password: Annotated[SecretStr, Field(max_length=1024)]


class NewPersonAnswer(BaseModel):
    username: str
    agency_ori: str
    roles: list[Role]
    totp_uri: str = Field(description="Enrol it in an authenticator app; shown once.")


class NewServiceRequest(BaseModel):
    username: Username
    agency_ori: Ori


class NewServiceAnswer(BaseModel):
    username: str
    agency_ori: str
    key: str = Field(description="The service's bearer key; shown once, kept hashed.")


class ResetAnswer(BaseModel):
    username: str
    agency_ori: str
    password: str = Field(description="A one-time password: shown once, changed at once "
                          "by its holder (POST /v1/me/password).")  # fmt: skip
    totp_uri: str = Field(description="The new second factor's enrolment URI; shown once.")
    sessions_ended: bool = True


class PasswordChange(BaseModel):
    current_password: Annotated[SecretStr, Field(max_length=1024)]
    new_password: Annotated[SecretStr, Field(max_length=1024)]


class AccountView(BaseModel):
    username: str
    kind: str
    agency_ori: str
    roles: list[Role]
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    must_change_password: bool = False


def _view(a: Account) -> AccountView:
    return AccountView(
        username=a.username, kind=a.kind.value, agency_ori=a.agency_ori,
        roles=sorted(a.roles), created_at=a.created_at, created_by=a.created_by,
        last_used_at=a.last_used_at, disabled_at=a.disabled_at,
        disabled_reason=a.disabled_reason, must_change_password=a.must_change_password,
    )  # fmt: skip


def account_event(
    actor: Principal | None, username: str, agency: str | None, change: str,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
) -> AuditEvent:  # fmt: skip
    return AuditEvent(
        event_id=new_id(), occurred_at=utcnow(),
        actor=actor.username if actor else username,
        actor_agency_ori=actor.agency_ori if actor else agency,
        action=AuditAction.OTHER if outcome is AuditOutcome.SUCCESS else AuditAction.ACCESS_DENIED,
        target_kind="account", target_id=username, recipient_agency_ori=agency,
        outcome=outcome, details={"change": change},
    )  # fmt: skip


@router.get("/health", tags=["public"])
def health() -> Health:
    """Liveness, and the system-use banner shown before login (CJIS AC-8)."""
    return Health(status="ok", banner=SYSTEM_USE_BANNER)


@router.post("/v1/login", tags=["session"])
def login(body: LoginRequest, api: Services) -> LoginAnswer:
    """A session for a person: password and the current TOTP code. Five failures in 15
    minutes lock the account; a session ends after 30 minutes idle or 12 hours."""
    identity = api.auth.identity
    try:
        token, session = identity.login(body.username, body.password.get_secret_value(), body.code)
    except LoginRefused as refused:
        audit_refusal(api.trail, account_event(None, body.username[:64], None,
                                                f"login refused: {refused.reason}",
                                                AuditOutcome.DENIED))  # fmt: skip
        raise HTTPException(401, str(refused)) from None
    api.trail.record_acknowledged(account_event(None, session.username, session.agency_ori,
                                                 "login"))  # fmt: skip
    return LoginAnswer(
        token=token, expires_at=session.expires_at,
        idle_minutes=api.settings.api_session_idle_minutes, username=session.username,
        agency_ori=session.agency_ori, roles=sorted(session.roles), banner=SYSTEM_USE_BANNER,
        password_change_required=identity.password_change_due(session.username),
    )  # fmt: skip


@router.post("/v1/logout", tags=["session"])
def logout(
    request: Request, principal: Anyone, api: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict[str, str]:  # fmt: skip
    """Ends this session at once."""
    token = token_of(request, credentials)
    if token:
        api.auth.identity.logout(token)
    api.trail.record(account_event(principal, principal.username, principal.agency_ori, "logout"))
    return {"status": "logged out"}


@router.get("/v1/me", tags=["session"])
def me(principal: Anyone) -> Me:
    """Who this token is, and what its roles allow."""
    return Me(
        username=principal.username, agency_ori=principal.agency_ori,
        roles=sorted(principal.roles), permissions=sorted(principal.permissions),
        via=principal.via,
    )  # fmt: skip


PeopleAdmin = Annotated[
    Principal, Depends(allowed(Permission.MANAGE_AGENCY_PEOPLE, Permission.MANAGE_AGENCIES))
]


def _may_grant(principal: Principal, agency: str, roles: set[Role]) -> str | None:
    """Why ``principal`` may not give ``roles`` in ``agency``, or None."""
    if principal.can(Permission.MANAGE_AGENCIES):
        allowed_roles = {Role.AGENCY_ADMIN, Role.OPERATOR}
        if not roles <= allowed_roles:
            return (
                "an operator adds agency administrators and operators; the agency's "
                "administrator adds its other people"
            )
        return None
    if agency != principal.agency_ori:
        return "an agency administrator adds people of its own agency only"
    if not roles <= AGENCY_GRANTABLE:
        return "an agency administrator gives investigator, supervisor or auditor roles"
    return None


@router.post("/v1/people", tags=["people"])
def add_person(body: NewPersonRequest, principal: PeopleAdmin, api: Services) -> NewPersonAnswer:
    """A new person with roles; their TOTP enrolment URI is returned once. The password
    is the administrator's choice, so its holder must change it at first login."""
    agency = body.agency_ori or principal.agency_ori
    roles = set(body.roles)
    problem = _may_grant(principal, agency, roles)
    if problem is not None:
        audit_refusal(api.trail, account_event(principal, body.username, agency,
                                                f"add refused: {problem}",
                                                AuditOutcome.DENIED))  # fmt: skip
        raise HTTPException(403, problem)
    new = api.auth.identity.add_person(body.username, agency, frozenset(roles),
                                       body.password.get_secret_value(),
                                       principal.username, must_change_password=True)  # fmt: skip
    api.trail.record_acknowledged(
        account_event(
            principal, body.username, agency, f"added with roles {','.join(sorted(roles))}"
        )
    )
    return NewPersonAnswer(username=body.username, agency_ori=agency, roles=sorted(roles),
                           totp_uri=new.totp_uri)  # fmt: skip


@router.post("/v1/service-accounts", tags=["people"])
def add_service(
    body: NewServiceRequest,
    principal: Annotated[Principal, Depends(allowed(Permission.MANAGE_SERVICE_ACCOUNTS))],
    api: Services,
) -> NewServiceAnswer:
    """A service account of an agency (its tools read the agency's hits); key shown once."""
    account, key = api.auth.identity.add_service(body.username, body.agency_ori,
                                                 principal.username)  # fmt: skip
    api.trail.record_acknowledged(account_event(principal, account.username, body.agency_ori,
                                                 "service account added"))  # fmt: skip
    return NewServiceAnswer(username=account.username, agency_ori=body.agency_ori, key=key)


@router.get("/v1/people", tags=["people"])
def list_people(
    principal: PeopleAdmin, api: Services, agency_ori: Ori | None = None
) -> list[AccountView]:
    """The accounts of an agency: one's own, or any for an operator."""
    agency = agency_ori or principal.agency_ori
    if agency != principal.agency_ori and not principal.can(Permission.MANAGE_AGENCIES):
        raise HTTPException(403, "an agency administrator lists its own agency only")
    return [_view(a) for a in api.auth.identity.store.accounts_of_agency(agency)]


@router.post("/v1/people/{username}/disable", tags=["people"])
def disable_person(username: str, principal: PeopleAdmin, api: Services) -> AccountView:
    """Disables an account at once (its sessions stop working)."""
    account = api.auth.identity.store.account(username)
    if account is None:
        raise RequestRefused(f"no account {username}")
    problem = _may_grant(principal, account.agency_ori, set(account.roles) - {Role.SERVICE})
    if problem is not None and not (principal.can(Permission.MANAGE_AGENCIES)
                                    and Role.SERVICE in account.roles):  # fmt: skip
        raise HTTPException(403, problem)
    disabled = api.auth.identity.disable(username, f"disabled by {principal.username}")
    api.trail.record_acknowledged(account_event(principal, username, account.agency_ori,
                                                 "disabled"))  # fmt: skip
    return _view(disabled)


@router.post("/v1/people/{username}/reset", tags=["people"])
def reset_person(
    username: Annotated[str, Field(max_length=64)], principal: PeopleAdmin, api: Services
) -> ResetAnswer:
    """A new one-time password and second factor for a person (forgotten password, lost
    phone), shown once; every session of theirs ends at once. An agency administrator
    resets the people of its own agency it may add, the operator administrators and
    operators; nobody resets themselves (audited, refusals too)."""
    account = api.auth.identity.store.account(username)
    if account is None or account.kind is not AccountKind.PERSON:
        raise NotFound(f"no person {username}")
    problem = _may_grant(principal, account.agency_ori, set(account.roles))
    if username == principal.username:
        problem = "a person's credentials are reset by an administrator, not by themselves"
    if problem is not None:
        audit_refusal(api.trail, account_event(principal, username, account.agency_ori,
                                                f"reset refused: {problem}",
                                                AuditOutcome.DENIED))  # fmt: skip
        raise HTTPException(403, problem)
    password, new = api.auth.identity.reset_with_one_time_password(username, principal.username)
    api.trail.record_acknowledged(account_event(
        principal, username, account.agency_ori,
        "password and second factor reset; sessions ended",
    ))  # fmt: skip
    return ResetAnswer(username=username, agency_ori=account.agency_ori, password=password,
                       totp_uri=new.totp_uri)  # fmt: skip


class PasswordChanged(BaseModel):
    status: str
    other_sessions_ended: bool = Field(
        default=True, description="Every other session of the person (other logins, "
        "other tokens) ended with the change; this one goes on.",
    )  # fmt: skip


@router.post("/v1/me/password", tags=["session"])
def change_password(
    request: Request, body: PasswordChange, principal: Anyone, api: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> PasswordChanged:  # fmt: skip
    """One's own new password, the current one shown first: the one thing (with logout)
    a session may do while its password, set by someone else, is due for a change. Every
    other session of the person ends at once (audited as their logout is); this one goes
    on."""
    if principal.via != "session":
        raise HTTPException(403, "a person changes their own password, in their session")
    try:
        api.auth.identity.change_password(principal.username,
                                          body.current_password.get_secret_value(),
                                          body.new_password.get_secret_value(),
                                          keep_token=token_of(request, credentials))  # fmt: skip
    except AccessDenied as refused:
        audit_refusal(api.trail, account_event(principal, principal.username,
                                                principal.agency_ori,
                                                f"password change refused: {refused}",
                                                AuditOutcome.DENIED))  # fmt: skip
        raise HTTPException(403, str(refused)) from None
    for change in ("password changed", "logout of every other session: password changed"):
        api.trail.record_acknowledged(
            account_event(principal, principal.username, principal.agency_ori, change)
        )
    return PasswordChanged(status="password changed; your other sessions are ended")

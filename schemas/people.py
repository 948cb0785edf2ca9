"""People and services who use lprx, what each role may do, and why a search is made.

The one permission table of lprx (``ROLE_PERMISSIONS``): every route of the API and
every command of the CLI asks it, and a unit test reads it back role by role. Roles are
held per agency: a person's roles act on their own agency only (a consortium operator's
on the consortium's configuration, never on its data).

=====================  ==============================================================
investigator           search reads; the hits of its agency, their crops, dispositions
supervisor             what an investigator may, review the searches of its agency,
                       place, review and release holds (investigative and exculpatory),
                       and be the second approver of a widened sharing agreement
agency_admin           cameras, hotlists, agreements and people of its own agency (a
                       widened agreement also needs a second approver)
auditor                read the audit trail of its agency, verify its hash chain
operator               agencies (their administrators) and service accounts; no reads
service                the hits of its agency (a partner's tool); no person behind it
=====================  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    INVESTIGATOR = "investigator"
    SUPERVISOR = "supervisor"
    AGENCY_ADMIN = "agency_admin"
    AUDITOR = "auditor"
    OPERATOR = "operator"
    SERVICE = "service"


class Permission(StrEnum):
    SEARCH_READS = "search_reads"
    READ_HITS = "read_hits"
    READ_CROPS = "read_crops"
    DISPOSE_HITS = "dispose_hits"
    REVIEW_SEARCHES = "review_searches"
    LOAD_HOTLISTS = "load_hotlists"
    MANAGE_AGREEMENTS = "manage_agreements"
    MANAGE_CAMERAS = "manage_cameras"
    MANAGE_AGENCY_PEOPLE = "manage_agency_people"
    READ_AUDIT = "read_audit"
    MANAGE_AGENCIES = "manage_agencies"
    MANAGE_SERVICE_ACCOUNTS = "manage_service_accounts"
    READ_DEAD_LETTERS = "read_dead_letters"
    HOLD_READS = "hold_reads"
    VERIFY_AUDIT = "verify_audit"
    APPROVE_AGREEMENTS = "approve_agreements"


_INVESTIGATE = frozenset(
    {Permission.SEARCH_READS, Permission.READ_HITS, Permission.READ_CROPS, Permission.DISPOSE_HITS}
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.INVESTIGATOR: _INVESTIGATE,
    Role.SUPERVISOR: _INVESTIGATE
    | {Permission.REVIEW_SEARCHES, Permission.HOLD_READS, Permission.APPROVE_AGREEMENTS},
    Role.AGENCY_ADMIN: frozenset(
        {
            Permission.LOAD_HOTLISTS,
            Permission.MANAGE_AGREEMENTS,
            Permission.MANAGE_CAMERAS,
            Permission.MANAGE_AGENCY_PEOPLE,
            Permission.APPROVE_AGREEMENTS,
        }
    ),
    Role.AUDITOR: frozenset({Permission.READ_AUDIT, Permission.VERIFY_AUDIT}),
    # Dead letters are shown without their bytes (stage, reason, offset): operations,
    # not reads.
    Role.OPERATOR: frozenset(
        {
            Permission.MANAGE_AGENCIES,
            Permission.MANAGE_SERVICE_ACCOUNTS,
            Permission.READ_DEAD_LETTERS,
        }
    ),
    Role.SERVICE: frozenset({Permission.READ_HITS}),
}

# What an agency administrator may hand out to people of its own agency; the operator
# alone makes agency administrators, service accounts and other operators.
AGENCY_GRANTABLE = frozenset({Role.INVESTIGATOR, Role.SUPERVISOR, Role.AUDITOR})


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return granted


class Purpose(StrEnum):
    """Why a search is made (13.824 subd. 7: a legitimate, specified purpose)."""

    CRIMINAL_INVESTIGATION = "criminal_investigation"
    STOLEN_VEHICLE = "stolen_vehicle"
    WANTED_PERSON = "wanted_person"
    MISSING_PERSON = "missing_person"
    AMBER_ALERT = "amber_alert"
    HIT_VERIFICATION = "hit_verification"
    EXCULPATORY_REQUEST = "exculpatory_request"


class AccountKind(StrEnum):
    PERSON = "person"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Account:
    """An individual login (or a service's). ``password_hash`` is argon2id (a service's
    key is hashed the same way); ``totp_secret`` is sealed by the identity service."""

    username: str
    kind: AccountKind
    agency_ori: str
    roles: frozenset[Role]
    password_hash: str
    created_at: datetime
    created_by: str
    totp_secret: str | None = None
    last_used_at: datetime | None = None
    last_totp_step: int = 0
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    # Sessions begun before this moment are ended (a reset of the credentials, a
    # password change), but for the one whose token has this SHA-256: the session that
    # changed the password.
    sessions_valid_from: datetime | None = None
    session_kept: str | None = None
    # The password was set by someone else (an administrator, a reset, a generated
    # bootstrap password): CJIS IA-5 has its holder change it at first use.
    must_change_password: bool = False

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, as authenticated: every audited access carries it."""

    username: str
    agency_ori: str
    roles: frozenset[Role]
    via: str  # "session", "service", "oidc"
    # A session begun with a password someone else set: it may only change the password
    # and log out (pipelines/api/deps.py) until the password is its holder's own.
    must_change_password: bool = False
    permissions: frozenset[Permission] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "permissions", permissions_of(self.roles))

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


@dataclass(frozen=True, slots=True)
class Session:
    """A server-side session; only the hash of its token is kept."""

    token_hash: str
    username: str
    agency_ori: str
    roles: frozenset[Role]
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # absolute limit

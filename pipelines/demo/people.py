"""The demo's people: a consortium operator (as ``lprx people bootstrap`` makes one), an
administrator of Lakeside and an investigator of Lakeside made under them. Each run gives
them a fresh password and TOTP secret, written 0600 to ``<cache>/secrets/demo/`` (never
printed), so the demo can say how to log in without a secret in its output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connectors.security.files import new_password, write_secret
from pipelines.api.wiring import identity_service
from pipelines.demo.scenario import LAKESIDE
from pipelines.settings import Settings
from schemas.people import Role


@dataclass(frozen=True)
class DemoPerson:
    username: str
    agency_ori: str
    role: Role
    created_by: str


DEMO_PEOPLE = (
    DemoPerson("demo.operator", "", Role.OPERATOR, "bootstrap"),
    DemoPerson("admin.lakeside", LAKESIDE.ori, Role.AGENCY_ADMIN, "demo.operator"),
    DemoPerson("inv.lakeside", LAKESIDE.ori, Role.INVESTIGATOR, "admin.lakeside"),
    DemoPerson("aud.lakeside", LAKESIDE.ori, Role.AUDITOR, "admin.lakeside"),
)


def people_dir(settings: Settings) -> Path:
    return settings.secrets_dir / "demo"


def make_people(settings: Settings) -> dict[str, tuple[Path, Path]]:
    """Each demo person, made or given new credentials; their password and TOTP files."""
    files: dict[str, tuple[Path, Path]] = {}
    with identity_service(settings) as (_store, identity):
        for p in DEMO_PEOPLE:
            password = new_password().get_secret_value()
            agency = p.agency_ori or settings.api_consortium_ori
            if identity.store.account(p.username) is None:
                new = identity.add_person(p.username, agency, frozenset({p.role}), password,
                                          p.created_by)  # fmt: skip
            else:
                new = identity.reset_person(p.username, password, p.created_by)
            folder = people_dir(settings)
            files[p.username] = (
                write_secret(folder / f"{p.username}.password", password + "\n"),
                write_secret(folder / f"{p.username}.totp", new.totp_uri + "\n"),
            )
    return files

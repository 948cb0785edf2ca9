"""The API on memory stores: accounts, reads, hits, audit; people of three agencies."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
from fastapi.testclient import TestClient

from connectors.cassandra.rows import read_day
from connectors.cassandra.search import ReadRow
from connectors.kafka.audit import MemoryAuditTrail
from pipelines.api.app import create_api_app
from pipelines.api.deps import ApiServices
from pipelines.identity.accounts import IdentityService, TotpSealer
from pipelines.identity.auth import Authenticator
from pipelines.identity.memory import MemoryAccounts
from pipelines.settings import Settings
from pipelines.stages.share import AgreementBook
from schemas.cameras import BcaNotice, CameraLocation, RegisteredCamera
from schemas.people import Role
from schemas.records import HotlistCategory, PlateCrop, SharingAgreement

A, B, C = "MN0270100", "MN0270200", "MN0270300"
PASSWORD = "a long test password"
NOW = datetime.now(UTC)


def read(read_id: str, plate: str, agency: str, minutes_ago: float,
         lat: float = 44.97, lon: float = -93.27) -> ReadRow:  # fmt: skip
    at = NOW - timedelta(minutes=minutes_ago)
    return ReadRow(read_id, plate, at, agency, "cam-1", lat, lon, 90.0, at + timedelta(days=60))


@dataclass
class MemoryStore:
    reads: list[ReadRow] = field(default_factory=list)
    hits: list[dict[str, Any]] = field(default_factory=list)
    crops: dict[str, PlateCrop] = field(default_factory=dict)
    audit: list[dict[str, Any]] = field(default_factory=list)

    def plate_reads(self, plate: str, start: datetime, end: datetime, limit: int) -> list[ReadRow]:
        rows = [r for r in self.reads if r.plate == plate and start <= r.collected_at <= end]
        return sorted(rows, key=lambda r: r.collected_at, reverse=True)[:limit]

    def day_reads(self, agency_ori: str, day: str, start: datetime, end: datetime,
                  limit: int) -> list[ReadRow]:  # fmt: skip
        rows = [r for r in self.reads if r.agency_ori == agency_ori
                and read_day(r.collected_at) == day and start <= r.collected_at <= end]  # fmt: skip
        return sorted(rows, key=lambda r: (r.collected_at, r.read_id), reverse=True)[:limit]

    def hits_for_agency(self, agency_ori: str, limit: int = 100) -> list[dict[str, Any]]:
        return [h for h in self.hits if h["agency_ori"] == agency_ori][:limit]

    def plate_crop(self, read_id: str) -> PlateCrop | None:
        return self.crops.get(read_id)

    def audit_events(self, day: str, limit: int = 100) -> list[dict[str, Any]]:
        return self.audit[:limit]

    def find_hit(self, hit_id: str) -> Any:
        return None


@dataclass
class MemoryRegistry:
    """The camera registry in memory (``connectors.cassandra.cameras.CameraRegistry``)."""

    cameras_: dict[tuple[str, str], RegisteredCamera] = field(default_factory=dict)
    places: dict[tuple[str, str, object], CameraLocation] = field(default_factory=dict)
    notices_: dict[tuple[str, str], BcaNotice] = field(default_factory=dict)

    def save_camera(self, camera: RegisteredCamera) -> None:
        self.cameras_[(camera.agency_ori, camera.camera_id)] = camera

    def save_location(self, agency_ori: str, camera_id: str, location: CameraLocation,
                      by: str, at: datetime) -> None:  # fmt: skip
        self.places[(agency_ori, camera_id, location.since)] = location

    def save_notice(self, notice: BcaNotice) -> None:
        self.notices_[(notice.agency_ori, notice.notice_id)] = notice

    def camera(self, agency_ori: str, camera_id: str) -> RegisteredCamera | None:
        return self.cameras_.get((agency_ori, camera_id))

    def cameras(self, agency_ori: str) -> list[RegisteredCamera]:
        return [c for (a, _), c in self.cameras_.items() if a == agency_ori]

    def locations(self, agency_ori: str) -> dict[str, list[CameraLocation]]:
        found: dict[str, list[CameraLocation]] = {}
        for (a, camera_id, _), loc in sorted(self.places.items(), key=lambda i: str(i[0])):
            if a == agency_ori:
                found.setdefault(camera_id, []).append(loc)
        return found

    def notices(self, agency_ori: str) -> list[BcaNotice]:
        return [n for (a, _), n in self.notices_.items() if a == agency_ori]

    def notice(self, agency_ori: str, notice_id: str) -> BcaNotice | None:
        return self.notices_.get((agency_ori, notice_id))


def agreement(owner: str, partner: str, *, reads: bool, hits: bool) -> SharingAgreement:
    return SharingAgreement(
        agreement_id=f"{owner}->{partner}", owner_agency_ori=owner, partner_agency_ori=partner,
        hit_categories=(HotlistCategory.STOLEN_VEHICLE,) if hits else (),
        effective_from=NOW - timedelta(days=1), legal_basis="JPA test", approved_by="chief",
        share_reads=reads,
    )  # fmt: skip


class Api:
    """The app, its stores, and a way to log people in."""

    def __init__(self, tmp: Path) -> None:
        self.accounts = MemoryAccounts()
        self.settings = Settings(cache_dir=tmp)
        self.identity = IdentityService(self.accounts, TotpSealer(tmp / "totp.key"), self.settings)
        self.trail = MemoryAuditTrail()
        self.book = AgreementBook()
        self.store = MemoryStore()
        self.registry = MemoryRegistry()
        self.services = ApiServices(self.settings, Authenticator(self.identity), self.trail,
                                    self.book, self.store, cameras=self.registry)  # fmt: skip
        self.client = TestClient(create_api_app(self.services))
        self.totp: dict[str, pyotp.TOTP] = {}

    def person(self, username: str, agency: str, *roles: Role) -> str:
        new = self.identity.add_person(username, agency, frozenset(roles), PASSWORD, "test")
        totp = pyotp.parse_uri(new.totp_uri)
        assert isinstance(totp, pyotp.TOTP)
        self.totp[username] = totp
        return self.login(username)

    def login(self, username: str) -> str:
        # Each login needs a code not used yet: reset the account's last step.
        account = self.accounts.accounts[username]
        self.accounts.accounts[username] = replace(account, last_totp_step=0)
        answer = self.client.post("/v1/login", json={
            "username": username, "password": PASSWORD, "code": self.totp[username].now(),
        })  # fmt: skip
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["token"]
        return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

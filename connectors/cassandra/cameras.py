"""The camera registry in the store (schemas/cameras.py): cameras, their locations, and
the BCA notices their installation and moves make.

These tables describe cameras, never what they read: no plate, read id or person
beyond the administrator who made each change, so they hold no read data and have no
TTL (the registry and its notices are the agency's record under 13.824 subd. 8; the
public list of fixed locations is built from them). The API's role writes them (an
administrator's change) and ``lprx_reader`` reads them (``lprx transparency report``);
no worker touches them (``roles.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from connectors.cassandra.rows import utc
from connectors.cassandra.session import DICT_ROWS, map_exceptions
from schemas.cameras import BcaNotice, CameraLocation, NoticeReason, RegisteredCamera
from schemas.records import CameraKind

REGISTRY_TABLES = ("cameras", "camera_locations", "bca_notices")

# Days are ISO text ("YYYY-MM-DD"), as the other day columns of the store.
REGISTRY_CQL = [
    """CREATE TABLE IF NOT EXISTS {ks}.cameras (
        agency_ori text, camera_id text, kind text, installed_on text, owner text,
        registered_by text, registered_at timestamp, retired_on text, retired_by text,
        PRIMARY KEY ((agency_ori), camera_id)
    ) WITH """,
    # A fixed camera's locations, one row per day it was put somewhere (a second move on
    # one day corrects the first); the period of each ends where the next begins.
    """CREATE TABLE IF NOT EXISTS {ks}.camera_locations (
        agency_ori text, camera_id text, since text, latitude double, longitude double,
        description text, recorded_by text, recorded_at timestamp,
        PRIMARY KEY ((agency_ori), camera_id, since)
    ) WITH """,
    """CREATE TABLE IF NOT EXISTS {ks}.bca_notices (
        agency_ori text, notice_id text, camera_id text, camera_kind text, reason text,
        event_on text, due_on text, latitude double, longitude double, location text,
        created_at timestamp, created_by text, filed_on text, filed_by text,
        filing_reference text,
        PRIMARY KEY ((agency_ori), notice_id)
    ) WITH """,
]

_CAMERA_COLUMNS = (
    "agency_ori", "camera_id", "kind", "installed_on", "owner", "registered_by",
    "registered_at", "retired_on", "retired_by",
)  # fmt: skip
_LOCATION_COLUMNS = (
    "agency_ori", "camera_id", "since", "latitude", "longitude", "description", "recorded_by",
    "recorded_at",
)  # fmt: skip
_NOTICE_COLUMNS = (
    "agency_ori", "notice_id", "camera_id", "camera_kind", "reason", "event_on", "due_on",
    "latitude", "longitude", "location", "created_at", "created_by", "filed_on", "filed_by",
    "filing_reference",
)  # fmt: skip


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _text(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _camera(row: dict[str, Any]) -> RegisteredCamera:
    installed = _day(row["installed_on"])
    assert installed is not None
    return RegisteredCamera(
        agency_ori=row["agency_ori"], camera_id=row["camera_id"], kind=CameraKind(row["kind"]),
        installed_on=installed, registered_by=row["registered_by"],
        registered_at=utc(row["registered_at"]), owner=row["owner"],
        retired_on=_day(row["retired_on"]), retired_by=row["retired_by"],
    )  # fmt: skip


def _location(row: dict[str, Any]) -> CameraLocation:
    since = _day(row["since"])
    assert since is not None
    return CameraLocation(row["latitude"], row["longitude"], row["description"], since)


def _notice(row: dict[str, Any]) -> BcaNotice:
    event_on, due_on = _day(row["event_on"]), _day(row["due_on"])
    assert event_on is not None and due_on is not None
    location = None
    if row["latitude"] is not None and row["longitude"] is not None:
        location = CameraLocation(row["latitude"], row["longitude"], row["location"] or "",
                                  event_on)  # fmt: skip
    return BcaNotice(
        notice_id=row["notice_id"], agency_ori=row["agency_ori"], camera_id=row["camera_id"],
        camera_kind=CameraKind(row["camera_kind"]), reason=NoticeReason(row["reason"]),
        event_on=event_on, due_on=due_on, location=location,
        created_at=utc(row["created_at"]), created_by=row["created_by"],
        filed_on=_day(row["filed_on"]), filed_by=row["filed_by"],
        filing_reference=row["filing_reference"],
    )  # fmt: skip


def _insert(ks: str, table: str, columns: tuple[str, ...]) -> str:
    markers = ", ".join("?" for _ in columns)
    return f"INSERT INTO {ks}.{table} ({', '.join(columns)}) VALUES ({markers})"


class CameraRegistry:
    """The registry's rows, on one keyspace; every look-up is by agency (its partition)."""

    def __init__(self, session: Session, ks: str) -> None:
        self._session = session
        with map_exceptions("statement preparation"):
            prepare = session.prepare
            self._save_camera = prepare(_insert(ks, "cameras", _CAMERA_COLUMNS))
            self._save_location = prepare(_insert(ks, "camera_locations", _LOCATION_COLUMNS))
            self._save_notice = prepare(_insert(ks, "bca_notices", _NOTICE_COLUMNS))
            self._cameras = prepare(f"SELECT * FROM {ks}.cameras WHERE agency_ori = ?")
            self._camera = prepare(
                f"SELECT * FROM {ks}.cameras WHERE agency_ori = ? AND camera_id = ?"
            )
            self._locations = prepare(f"SELECT * FROM {ks}.camera_locations WHERE agency_ori = ?")
            self._notices = prepare(f"SELECT * FROM {ks}.bca_notices WHERE agency_ori = ?")
            self._notice = prepare(
                f"SELECT * FROM {ks}.bca_notices WHERE agency_ori = ? AND notice_id = ?"
            )

    def _run(self, statement: PreparedStatement, params: Iterable[Any]) -> list[dict[str, Any]]:
        with map_exceptions("read"):
            return list(
                self._session.execute(statement, tuple(params), execution_profile=DICT_ROWS)
            )

    def _write(self, statement: PreparedStatement, params: tuple[Any, ...]) -> None:
        with map_exceptions("write"):
            self._session.execute(statement, params)

    def save_camera(self, camera: RegisteredCamera) -> None:
        self._write(self._save_camera, (
            camera.agency_ori, camera.camera_id, camera.kind.value,
            camera.installed_on.isoformat(), camera.owner, camera.registered_by,
            camera.registered_at, _text(camera.retired_on), camera.retired_by,
        ))  # fmt: skip

    def save_location(
        self, agency_ori: str, camera_id: str, location: CameraLocation, by: str, at: datetime
    ) -> None:
        self._write(self._save_location, (
            agency_ori, camera_id, location.since.isoformat(), location.latitude,
            location.longitude, location.description, by, at,
        ))  # fmt: skip

    def save_notice(self, notice: BcaNotice) -> None:
        where = notice.location
        self._write(self._save_notice, (
            notice.agency_ori, notice.notice_id, notice.camera_id, notice.camera_kind.value,
            notice.reason.value, notice.event_on.isoformat(), notice.due_on.isoformat(),
            where.latitude if where else None, where.longitude if where else None,
            where.description if where else None, notice.created_at, notice.created_by,
            _text(notice.filed_on), notice.filed_by, notice.filing_reference,
        ))  # fmt: skip

    def camera(self, agency_ori: str, camera_id: str) -> RegisteredCamera | None:
        rows = self._run(self._camera, (agency_ori, camera_id))
        return _camera(rows[0]) if rows else None

    def cameras(self, agency_ori: str) -> list[RegisteredCamera]:
        return [_camera(row) for row in self._run(self._cameras, (agency_ori,))]

    def locations(self, agency_ori: str) -> dict[str, list[CameraLocation]]:
        """Each camera's locations, oldest first."""
        found: dict[str, list[CameraLocation]] = {}
        for row in self._run(self._locations, (agency_ori,)):
            found.setdefault(row["camera_id"], []).append(_location(row))
        return found

    def notices(self, agency_ori: str) -> list[BcaNotice]:
        return [_notice(row) for row in self._run(self._notices, (agency_ori,))]

    def notice(self, agency_ori: str, notice_id: str) -> BcaNotice | None:
        rows = self._run(self._notice, (agency_ori, notice_id))
        return _notice(rows[0]) if rows else None

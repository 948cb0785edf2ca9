"""Cassandra store for reads, plate crops, hits and the audit trail.

Reads live with a per-row TTL equal to what is left of their retention since
*collection*; tables use TimeWindowCompactionStrategy so expired reads leave whole
SSTables that Cassandra drops cheaply. Writes are prepared statements run concurrently,
with one outcome per row (a bad row never sinks its batch).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cassandra import DriverException, ProtocolVersion
from cassandra.cluster import Cluster, NoHostAvailable, Session
from cassandra.concurrent import execute_concurrent
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import PreparedStatement

from connectors.cassandra import security
from connectors.cassandra.config import CassandraConfig
from schemas.errors import ConfigurationError, StoreUnavailable
from schemas.plates import confusable_key
from schemas.records import (
    AuditEvent,
    CameraKind,
    Classification,
    Hit,
    HitDisposition,
    PlateCandidate,
    PlateCrop,
    PlateRead,
    ReadSource,
)
from schemas.retention import RetentionExpired, ttl_seconds

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,47}")

_TWCS = (
    "compaction = {'class': 'TimeWindowCompactionStrategy', "
    "'compaction_window_unit': 'DAYS', 'compaction_window_size': 1}"
)

SCHEMA_CQL = [
    """CREATE TABLE IF NOT EXISTS {ks}.reads_by_plate (
        plate text, collected_at timestamp, read_id text,
        agency_ori text, camera_id text, camera_kind text,
        received_at timestamp, expires_at timestamp,
        latitude double, longitude double,
        region text, region_confidence float, confidence float,
        candidates map<text, float>, plate_box list<int>,
        image_ref text, source text, source_ref text, classification text,
        frame_count int, duplicates int,
        PRIMARY KEY ((plate), collected_at, read_id)
    ) WITH CLUSTERING ORDER BY (collected_at DESC, read_id ASC) AND """
    + _TWCS,
    """CREATE TABLE IF NOT EXISTS {ks}.hits_by_agency (
        agency_ori text, matched_at timestamp, hit_id text,
        plate text, read_id text, collected_at timestamp, expires_at timestamp,
        camera_id text, latitude double, longitude double, region text,
        entry_id text, list_id text, category text, priority int, covert boolean,
        match_kind text, state_mismatch boolean, historical boolean,
        disposition text, disposition_by text, disposition_agency text,
        disposition_at timestamp, disposition_note text,
        PRIMARY KEY ((agency_ori), matched_at, hit_id)
    ) WITH CLUSTERING ORDER BY (matched_at DESC, hit_id ASC) AND """
    + _TWCS,
    # Where each hit is stored, by its id, so a disposition can name a hit by id alone.
    """CREATE TABLE IF NOT EXISTS {ks}.hits_by_id (
        hit_id text PRIMARY KEY, agency_ori text, matched_at timestamp
    )""",
    # Audit is kept (no TTL): CJIS asks for at least a year, the biennial audit for more.
    """CREATE TABLE IF NOT EXISTS {ks}.audit_events (
        day text, occurred_at timestamp, event_id text,
        actor text, actor_agency_ori text, action text, purpose text,
        target_kind text, target_id text, recipient_agency_ori text, outcome text,
        details map<text, text>,
        PRIMARY KEY ((day), occurred_at, event_id)
    ) WITH CLUSTERING ORDER BY (occurred_at DESC, event_id ASC)""",
    # The spellings stored under each confusable-folded plate (one row per read, its TTL),
    # so a new hotlist entry finds reads of a confusable spelling in one query.
    """CREATE TABLE IF NOT EXISTS {ks}.plates_by_folded_plate (
        folded_plate text, plate text, collected_at timestamp, read_id text,
        PRIMARY KEY ((folded_plate), plate, collected_at, read_id)
    ) WITH """
    + _TWCS,
    # Hotlist entries already checked against stored reads: an entry changed (priority,
    # dates) or read again by a new consumer group raises no historical hit twice.
    """CREATE TABLE IF NOT EXISTS {ks}.hotlist_checks (
        entry_id text PRIMARY KEY, folded_plate text, checked_at timestamp
    )""",
    # The plate region of a server-side OCR read (image_ref "crop:<read_id>"), expiring
    # with the read. Reads on Kafka stay small: the JPEG only ever lives here.
    """CREATE TABLE IF NOT EXISTS {ks}.plate_crops (
        read_id text PRIMARY KEY, agency_ori text, camera_id text,
        collected_at timestamp, expires_at timestamp, jpeg blob
    ) WITH """
    + _TWCS,
]

_INSERT_READ = """INSERT INTO {ks}.reads_by_plate (plate, collected_at, read_id, agency_ori,
    camera_id, camera_kind, received_at, expires_at, latitude, longitude, region,
    region_confidence, confidence, candidates, plate_box, image_ref, source, source_ref,
    classification, frame_count, duplicates)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"""

_INSERT_SPELLING = """INSERT INTO {ks}.plates_by_folded_plate (folded_plate, plate,
    collected_at, read_id) VALUES (?, ?, ?, ?) USING TTL ?"""

_SELECT_SPELLINGS = """SELECT plate FROM {ks}.plates_by_folded_plate
    WHERE folded_plate = ? GROUP BY folded_plate, plate"""

_INSERT_CROP = """INSERT INTO {ks}.plate_crops (read_id, agency_ori, camera_id, collected_at,
    expires_at, jpeg) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"""

_INSERT_HIT = """INSERT INTO {ks}.hits_by_agency (agency_ori, matched_at, hit_id, plate,
    read_id, collected_at, expires_at, camera_id, latitude, longitude, region, entry_id,
    list_id, category, priority, covert, match_kind, state_mismatch, historical)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?"""

_INSERT_HIT_ID = """INSERT INTO {ks}.hits_by_id (hit_id, agency_ori, matched_at)
    VALUES (?, ?, ?) USING TTL ?"""

_SELECT_HIT_ID = """SELECT agency_ori, matched_at FROM {ks}.hits_by_id WHERE hit_id = ?"""

_HIT_TTL = """SELECT TTL(plate) AS ttl, category FROM {ks}.hits_by_agency
    WHERE agency_ori = ? AND matched_at = ? AND hit_id = ?"""

_SET_DISPOSITION = """UPDATE {ks}.hits_by_agency USING TTL ? SET disposition = ?,
    disposition_by = ?, disposition_agency = ?, disposition_at = ?, disposition_note = ?
    WHERE agency_ori = ? AND matched_at = ? AND hit_id = ?"""

_INSERT_AUDIT = """INSERT INTO {ks}.audit_events (day, occurred_at, event_id, actor,
    actor_agency_ori, action, purpose, target_kind, target_id, recipient_agency_ori,
    outcome, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


@dataclass(frozen=True)
class HitLocation:
    """Where a stored hit lives in ``hits_by_agency``: the owning agency and match time."""

    hit_id: str
    agency_ori: str
    matched_at: datetime


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one row: stored, refused (expired), or failed (with why)."""

    ok: bool
    error: str | None = None
    expired: bool = False


def _read_row(read: PlateRead, ttl: int) -> tuple[Any, ...]:
    return (
        read.plate, read.collected_at, read.read_id, read.agency_ori, read.camera_id,
        read.camera_kind.value, read.received_at, read.expires_at, read.latitude,
        read.longitude, read.region, read.region_confidence, read.confidence,
        {c.plate: c.confidence for c in read.candidates},
        list(read.plate_box) if read.plate_box else None, read.image_ref,
        read.source.value, read.source_ref, read.classification.value, read.frame_count,
        read.duplicates, ttl,
    )  # fmt: skip


def _spelling_row(read: PlateRead, ttl: int) -> tuple[Any, ...]:
    return (confusable_key(read.plate), read.plate, read.collected_at, read.read_id, ttl)


def _utc(value: datetime) -> datetime:
    # The driver returns naive datetimes in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _read_from_row(row: dict[str, Any]) -> PlateRead:
    box = row["plate_box"]
    return PlateRead(
        read_id=row["read_id"],
        agency_ori=row["agency_ori"],
        camera_id=row["camera_id"],
        camera_kind=CameraKind(row["camera_kind"]),
        collected_at=_utc(row["collected_at"]),
        received_at=_utc(row["received_at"]),
        plate=row["plate"],
        confidence=row["confidence"],
        expires_at=_utc(row["expires_at"]),
        source=ReadSource(row["source"]),
        latitude=row["latitude"],
        longitude=row["longitude"],
        region=row["region"],
        region_confidence=row["region_confidence"] or 0.0,
        candidates=tuple(
            PlateCandidate(plate, confidence)
            for plate, confidence in sorted(
                (row["candidates"] or {}).items(), key=lambda item: -item[1]
            )
        ),
        plate_box=(box[0], box[1], box[2], box[3]) if box else None,
        image_ref=row["image_ref"],
        source_ref=row["source_ref"],
        classification=Classification(row["classification"]),
        frame_count=row["frame_count"] or 1,
        duplicates=row["duplicates"] or 0,
    )


def _crop_row(crop: PlateCrop, ttl: int) -> tuple[Any, ...]:
    return (
        crop.read_id, crop.agency_ori, crop.camera_id, crop.collected_at, crop.expires_at,
        crop.jpeg, ttl,
    )  # fmt: skip


def _hit_row(hit: Hit, ttl: int) -> tuple[Any, ...]:
    read, entry = hit.read, hit.entry
    return (
        read.agency_ori, hit.matched_at, hit.hit_id, read.plate, read.read_id,
        read.collected_at, read.expires_at, read.camera_id, read.latitude, read.longitude,
        read.region, entry.entry_id, entry.list_id, entry.category.value, entry.priority,
        entry.covert, hit.match_kind.value, hit.state_mismatch, hit.historical, ttl,
    )  # fmt: skip


def _audit_row(event: AuditEvent) -> tuple[Any, ...]:
    return (
        event.occurred_at.strftime("%Y-%m-%d"), event.occurred_at, event.event_id,
        event.actor, event.actor_agency_ori, event.action.value, event.purpose,
        event.target_kind, event.target_id, event.recipient_agency_ori,
        event.outcome.value, event.details,
    )  # fmt: skip


def connect(settings: CassandraConfig) -> tuple[Cluster, Session]:
    cluster = Cluster(
        settings.cassandra_contact_points,
        port=settings.cassandra_port,
        auth_provider=security.auth_provider(settings),
        ssl_context=security.ssl_context(settings),
        protocol_version=ProtocolVersion.V5,
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
    )
    try:
        return cluster, cluster.connect()
    except NoHostAvailable as error:
        cluster.shutdown()
        raise ConfigurationError(
            f"Cassandra at {settings.cassandra_contact_points}:{settings.cassandra_port} "
            f"did not let {settings.cassandra_username} in ({error}); is it running? Try "
            "`lprx services up`."
        ) from error


def _keyspace(name: str) -> str:
    # The keyspace is spliced into CQL text, so only a plain identifier will do.
    if not _IDENTIFIER.fullmatch(name):
        raise ConfigurationError(f"keyspace {name!r} is not a plain CQL identifier")
    return name


def ensure_schema(session: Session, keyspace: str) -> None:
    """Create the keyspace and tables if missing (idempotent)."""
    ks = _keyspace(keyspace)
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    for statement in SCHEMA_CQL:
        session.execute(statement.replace("{ks}", ks))
    _add_missing_columns(session, ks)


# Columns added after a table first shipped: CREATE TABLE IF NOT EXISTS leaves an older
# table as it was, so they are added here when missing.
ADDED_COLUMNS = {
    "reads_by_plate": {"duplicates": "int"},
    "hits_by_agency": {
        "disposition": "text", "disposition_by": "text", "disposition_agency": "text",
        "disposition_at": "timestamp", "disposition_note": "text",
    },
}  # fmt: skip


def _add_missing_columns(session: Session, ks: str) -> None:
    for table, columns in ADDED_COLUMNS.items():
        present = {
            row.column_name
            for row in session.execute(
                "SELECT column_name FROM system_schema.columns "
                "WHERE keyspace_name = %s AND table_name = %s",
                (ks, table),
            )
        }
        for name, cql_type in columns.items():
            if name not in present:
                session.execute(f"ALTER TABLE {ks}.{table} ADD {name} {cql_type}")


class CassandraStore:
    def __init__(self, settings: CassandraConfig, *, create_schema: bool = True) -> None:
        self._cluster, self.session = connect(settings)
        self.keyspace = ks = _keyspace(settings.cassandra_keyspace)
        if create_schema:
            ensure_schema(self.session, ks)
        self._concurrency = settings.cassandra_write_concurrency
        self._insert_read = self.session.prepare(_INSERT_READ.replace("{ks}", ks))
        self._insert_spelling = self.session.prepare(_INSERT_SPELLING.replace("{ks}", ks))
        self._select_spellings = self.session.prepare(_SELECT_SPELLINGS.replace("{ks}", ks))
        self._select_check = self.session.prepare(
            f"SELECT folded_plate FROM {ks}.hotlist_checks WHERE entry_id = ?"
        )
        self._insert_check = self.session.prepare(
            f"INSERT INTO {ks}.hotlist_checks (entry_id, folded_plate, checked_at) VALUES (?, ?, ?)"
        )
        self._delete_check = self.session.prepare(
            f"DELETE FROM {ks}.hotlist_checks WHERE entry_id = ?"
        )
        self._insert_hit = self.session.prepare(_INSERT_HIT.replace("{ks}", ks))
        self._insert_hit_id = self.session.prepare(_INSERT_HIT_ID.replace("{ks}", ks))
        self._select_hit_id = self.session.prepare(_SELECT_HIT_ID.replace("{ks}", ks))
        self._insert_crop = self.session.prepare(_INSERT_CROP.replace("{ks}", ks))
        self._select_reads = self.session.prepare(
            f"SELECT * FROM {ks}.reads_by_plate WHERE plate = ? LIMIT ?"
        )
        self._insert_audit = self.session.prepare(_INSERT_AUDIT.replace("{ks}", ks))
        self._hit_ttl = self.session.prepare(_HIT_TTL.replace("{ks}", ks))
        self._set_disposition = self.session.prepare(_SET_DISPOSITION.replace("{ks}", ks))

    def close(self) -> None:
        self._cluster.shutdown()

    def __enter__(self) -> CassandraStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(
        self, statement: PreparedStatement, rows: Sequence[tuple[Any, ...] | RowOutcome]
    ) -> list[RowOutcome]:
        """Runs the rows concurrently; a RowOutcome in ``rows`` is passed through."""
        todo = [(i, r) for i, r in enumerate(rows) if not isinstance(r, RowOutcome)]
        outcomes: list[RowOutcome] = [
            r if isinstance(r, RowOutcome) else RowOutcome(True) for r in rows
        ]
        if not todo:
            return outcomes
        try:
            results = execute_concurrent(
                self.session,
                [(statement, params) for _, params in todo],
                concurrency=self._concurrency,
                raise_on_first_error=False,
            )
        except (NoHostAvailable, DriverException) as error:
            raise StoreUnavailable(f"Cassandra write failed: {error}") from error
        for (i, _), (success, result) in zip(todo, results, strict=True):
            if not success:
                outcomes[i] = RowOutcome(False, f"{type(result).__name__}: {result}")
        return outcomes

    def write_reads(self, reads: Sequence[PlateRead], now: datetime) -> list[RowOutcome]:
        """Each read and its spelling row, with one TTL; a read is ok when both are."""
        rows: list[tuple[Any, ...] | RowOutcome] = []
        spellings: list[tuple[Any, ...] | RowOutcome] = []
        for read in reads:
            try:
                ttl = ttl_seconds(read.expires_at, now)
            except RetentionExpired as error:
                rows.append(RowOutcome(False, str(error), expired=True))
                spellings.append(rows[-1])
                continue
            rows.append(_read_row(read, ttl))
            spellings.append(_spelling_row(read, ttl))
        stored = self._run(self._insert_read, rows)
        indexed = self._run(self._insert_spelling, spellings)
        return [r if not r.ok else i for r, i in zip(stored, indexed, strict=True)]

    def write_crops(self, crops: Sequence[PlateCrop], now: datetime) -> list[RowOutcome]:
        """Stores plate crops with the TTL of their reads (counted from collection)."""
        rows: list[tuple[Any, ...] | RowOutcome] = []
        for crop in crops:
            try:
                rows.append(_crop_row(crop, ttl_seconds(crop.expires_at, now)))
            except RetentionExpired as error:
                rows.append(RowOutcome(False, str(error), expired=True))
        return self._run(self._insert_crop, rows)

    def plate_crop(self, read_id: str) -> PlateCrop | None:
        """The stored crop of a read, if still retained. Callers that show it to a person
        must audit the access, as for reads."""
        row = self.session.execute(
            f"SELECT * FROM {self.keyspace}.plate_crops WHERE read_id = %s", (read_id,)
        ).one()
        if row is None:
            return None
        return PlateCrop(
            row.read_id,
            row.agency_ori,
            row.camera_id,
            _utc(row.collected_at),
            _utc(row.expires_at),
            bytes(row.jpeg),
        )

    def write_hits(self, hits: Sequence[Hit], now: datetime) -> list[RowOutcome]:
        """Each hit and its id row, with the read's TTL; a hit is ok when both are."""
        rows: list[tuple[Any, ...] | RowOutcome] = []
        ids: list[tuple[Any, ...] | RowOutcome] = []
        for hit in hits:
            try:
                ttl = ttl_seconds(hit.read.expires_at, now)
            except RetentionExpired as error:
                rows.append(RowOutcome(False, str(error), expired=True))
                ids.append(rows[-1])
                continue
            rows.append(_hit_row(hit, ttl))
            ids.append((hit.hit_id, hit.read.agency_ori, hit.matched_at, ttl))
        stored = self._run(self._insert_hit, rows)
        indexed = self._run(self._insert_hit_id, ids)
        return [r if not r.ok else i for r, i in zip(stored, indexed, strict=True)]

    def find_hit(self, hit_id: str) -> HitLocation | None:
        """Where the hit with this id is stored, if it is still retained."""
        row = self._execute(self._select_hit_id, (hit_id,)).one()
        if row is None:
            return None
        return HitLocation(hit_id, row.agency_ori, _utc(row.matched_at))

    def hit_category(self, disposition: HitDisposition) -> tuple[str, int] | None:
        """The category and remaining TTL of the hit a disposition names, if stored."""
        row = self.session.execute(
            self._hit_ttl,
            (disposition.hit_agency_ori, disposition.matched_at, disposition.hit_id),
        ).one()
        if row is None or row.ttl is None:
            return None
        return str(row.category), int(row.ttl)

    def write_disposition(self, disposition: HitDisposition, ttl: int) -> None:
        """Stores the disposition on the hit's row, expiring with it."""
        try:
            self.session.execute(
                self._set_disposition,
                (
                    ttl, disposition.disposition.value, disposition.decided_by,
                    disposition.decided_by_agency_ori, disposition.decided_at, disposition.note,
                    disposition.hit_agency_ori, disposition.matched_at, disposition.hit_id,
                ),
            )  # fmt: skip
        except (NoHostAvailable, DriverException) as error:
            raise StoreUnavailable(f"Cassandra write failed: {error}") from error

    def write_audit(self, events: Sequence[AuditEvent]) -> list[RowOutcome]:
        return self._run(self._insert_audit, [_audit_row(e) for e in events])

    def reads_for_plate(self, plate: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.session.execute(
            "SELECT plate, collected_at, read_id, agency_ori, camera_id, region, "
            "confidence, duplicates, expires_at, TTL(agency_ori) AS ttl "
            f"FROM {self.keyspace}.reads_by_plate "
            "WHERE plate = %s LIMIT %s",
            (plate, limit),
        )
        return [dict(row._asdict()) for row in rows]

    def stored_reads(self, plate: str, limit: int = 1000) -> list[PlateRead]:
        """Every stored (so still retained) read of a plate, as records."""
        rows = self.session.execute(
            f"SELECT * FROM {self.keyspace}.reads_by_plate WHERE plate = %s LIMIT %s",
            (plate, limit),
        )
        return [_read_from_row(row._asdict()) for row in rows]

    def stored_reads_like(self, plate: str, limit: int = 1000) -> list[PlateRead]:
        """``stored_reads`` of the plate and of every confusable spelling of it stored
        (``B``/``8``, ``O``/``0``...), each spelling's partition queried concurrently."""
        rows = self._execute(self._select_spellings, (confusable_key(plate),))
        plates = {plate} | {row.plate for row in rows}
        try:
            results = execute_concurrent(
                self.session,
                [(self._select_reads, (spelling, limit)) for spelling in sorted(plates)],
                concurrency=self._concurrency,
            )
        except (NoHostAvailable, DriverException) as error:
            raise StoreUnavailable(f"Cassandra read failed: {error}") from error
        return [_read_from_row(row._asdict()) for result in results for row in result.result_or_exc]

    def _execute(self, statement: PreparedStatement, params: tuple[Any, ...]) -> Any:
        try:
            return self.session.execute(statement, params)
        except (NoHostAvailable, DriverException) as error:
            raise StoreUnavailable(f"Cassandra unavailable: {error}") from error

    def entry_checked(self, entry_id: str, folded_plate: str) -> bool:
        """Whether reads were already checked for this entry with this folded plate."""
        row = self._execute(self._select_check, (entry_id,)).one()
        return row is not None and row.folded_plate == folded_plate

    def mark_entry_checked(self, entry_id: str, folded_plate: str, now: datetime) -> None:
        self._execute(self._insert_check, (entry_id, folded_plate, now))

    def forget_entry_check(self, entry_id: str) -> None:
        """The entry was retracted: if it is listed again, it is checked again."""
        self._execute(self._delete_check, (entry_id,))

    def hits_for_agency(self, agency_ori: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.session.execute(
            f"SELECT * FROM {self.keyspace}.hits_by_agency WHERE agency_ori = %s LIMIT %s",
            (agency_ori, limit),
        )
        return [dict(row._asdict()) for row in rows]

    def audit_events(self, day: str, limit: int = 100) -> list[dict[str, Any]]:
        """The audit trail of one UTC day (YYYY-MM-DD), newest first."""
        rows = self.session.execute(
            f"SELECT * FROM {self.keyspace}.audit_events WHERE day = %s LIMIT %s", (day, limit)
        )
        return [dict(row._asdict()) for row in rows]

    def count(self, table: str) -> int:
        if table not in {
            "reads_by_plate", "hits_by_agency", "audit_events", "plate_crops",
            "plates_by_folded_plate", "hotlist_checks", "hits_by_id",
        }:  # fmt: skip
            raise ValueError(f"unknown table {table}")
        row = self.session.execute(f"SELECT count(*) FROM {self.keyspace}.{table}").one()
        return int(row[0]) if row else 0

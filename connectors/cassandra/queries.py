"""The store's look-ups, prepared once: records for the stages, dict rows for the CLI.

Rows are fetched, every page of them, inside ``map_exceptions``: iterating a result can
reach the server again for its next page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent
from cassandra.query import PreparedStatement

from connectors.cassandra.rows import CROP_COLUMNS, READ_COLUMNS, crop_from_row, read_from_row, utc
from connectors.cassandra.schema import TABLES
from connectors.cassandra.session import DICT_ROWS, TUPLE_ROWS, map_exceptions
from schemas.plates import confusable_key
from schemas.records import HitDisposition, PlateCrop, PlateRead


@dataclass(frozen=True)
class HitLocation:
    """Where a stored hit lives in ``hits_by_agency``: the owning agency and match time."""

    hit_id: str
    agency_ori: str
    matched_at: datetime


# What the CLI lists of a plate's reads: with the seconds each has left (its TTL).
_READ_LISTING = """SELECT plate, collected_at, read_id, agency_ori, camera_id, region,
    confidence, duplicates, expires_at, TTL(agency_ori) AS ttl
    FROM {ks}.reads_by_plate WHERE plate = ? LIMIT ?"""

_HIT_TTL = """SELECT TTL(plate) AS ttl, category FROM {ks}.hits_by_agency
    WHERE agency_ori = ? AND matched_at = ? AND hit_id = ?"""

_SPELLINGS = """SELECT plate FROM {ks}.plates_by_folded_plate
    WHERE folded_plate = ? GROUP BY folded_plate, plate"""


class Queries:
    """The look-ups of one keyspace, prepared on ``session`` when made."""

    def __init__(self, session: Session, ks: str, concurrency: int) -> None:
        self._session = session
        self._ks = ks
        self._concurrency = concurrency
        self._counts: dict[str, PreparedStatement] = {}
        with map_exceptions("statement preparation"):
            prepare = session.prepare
            self._reads = prepare(
                f"SELECT {', '.join(READ_COLUMNS)} FROM {ks}.reads_by_plate WHERE plate = ? LIMIT ?"
            )
            self._read_listing = prepare(_READ_LISTING.replace("{ks}", ks))
            self._spellings = prepare(_SPELLINGS.replace("{ks}", ks))
            self._crop = prepare(
                f"SELECT {', '.join(CROP_COLUMNS)} FROM {ks}.plate_crops WHERE read_id = ?"
            )
            self._hit_id = prepare(
                f"SELECT agency_ori, matched_at FROM {ks}.hits_by_id WHERE hit_id = ?"
            )
            self._hit_ttl = prepare(_HIT_TTL.replace("{ks}", ks))
            self._check = prepare(
                f"SELECT folded_plate FROM {ks}.hotlist_checks WHERE entry_id = ?"
            )
            self._hits = prepare(f"SELECT * FROM {ks}.hits_by_agency WHERE agency_ori = ? LIMIT ?")
            self._audit = prepare(f"SELECT * FROM {ks}.audit_events WHERE day = ? LIMIT ?")

    def _one(self, statement: PreparedStatement, params: tuple[Any, ...]) -> Any:
        """The first row (a tuple), or None."""
        with map_exceptions("read"):
            return self._session.execute(statement, params, execution_profile=TUPLE_ROWS).one()

    def _dicts(self, statement: PreparedStatement, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with map_exceptions("read"):
            return list(self._session.execute(statement, params, execution_profile=DICT_ROWS))

    def reads_for_plate(self, plate: str, limit: int = 100) -> list[dict[str, Any]]:
        """A plate's reads as the CLI lists them, newest first, each with its ``ttl``."""
        return self._dicts(self._read_listing, (plate, limit))

    def stored_reads(self, plate: str, limit: int = 1000) -> list[PlateRead]:
        """Every stored (so still retained) read of a plate, as records."""
        with map_exceptions("read"):
            rows = self._session.execute(self._reads, (plate, limit), execution_profile=TUPLE_ROWS)
            return [read_from_row(row) for row in rows]

    def stored_reads_like(self, plate: str, limit: int = 1000) -> list[PlateRead]:
        """``stored_reads`` of the plate and of every confusable spelling of it stored
        (``B``/``8``, ``O``/``0``...), each spelling's partition queried concurrently."""
        with map_exceptions("read"):
            spellings = self._session.execute(
                self._spellings, (confusable_key(plate),), execution_profile=TUPLE_ROWS
            )
            plates = {plate} | {row[0] for row in spellings}
            results = execute_concurrent(
                self._session,
                [(self._reads, (spelling, limit)) for spelling in sorted(plates)],
                concurrency=self._concurrency,
                execution_profile=TUPLE_ROWS,
            )
            return [read_from_row(row) for result in results for row in result.result_or_exc]

    def stored_reads_like_each(
        self, plates: Sequence[str], limit: int = 1000
    ) -> list[list[PlateRead]]:
        """``stored_reads_like`` of each plate, in two round trips for them all: every
        folded plate's spellings at once, then every spelling's partition at once."""
        folded = sorted({confusable_key(plate) for plate in plates})
        with map_exceptions("read"):
            found = execute_concurrent(
                self._session, [(self._spellings, (key,)) for key in folded],
                concurrency=self._concurrency, execution_profile=TUPLE_ROWS,
            )  # fmt: skip
            spellings = {
                key: {row[0] for row in result.result_or_exc}
                for key, result in zip(folded, found, strict=True)
            }
            like = [sorted({plate} | spellings[confusable_key(plate)]) for plate in plates]
            partitions = sorted({spelling for each in like for spelling in each})
            results = execute_concurrent(
                self._session, [(self._reads, (spelling, limit)) for spelling in partitions],
                concurrency=self._concurrency, execution_profile=TUPLE_ROWS,
            )  # fmt: skip
            reads = {
                spelling: [read_from_row(row) for row in result.result_or_exc]
                for spelling, result in zip(partitions, results, strict=True)
            }
        return [[read for spelling in each for read in reads[spelling]] for each in like]

    def plate_crop(self, read_id: str) -> PlateCrop | None:
        """The stored crop of a read, if still retained."""
        row = self._one(self._crop, (read_id,))
        return None if row is None else crop_from_row(row)

    def find_hit(self, hit_id: str) -> HitLocation | None:
        """Where the hit with this id is stored, if it is still retained."""
        row = self._one(self._hit_id, (hit_id,))
        return None if row is None else HitLocation(hit_id, row[0], utc(row[1]))

    def hit_category(self, disposition: HitDisposition) -> tuple[str, int] | None:
        """The category and remaining TTL of the hit a disposition names, if stored."""
        row = self._one(
            self._hit_ttl, (disposition.hit_agency_ori, disposition.matched_at, disposition.hit_id)
        )
        if row is None or row[0] is None:
            return None
        return str(row[1]), int(row[0])

    def entry_checked(self, entry_id: str, folded_plate: str) -> bool:
        """Whether reads were already checked for this entry with this folded plate."""
        row = self._one(self._check, (entry_id,))
        return row is not None and row[0] == folded_plate

    def entries_checked(self, entries: Sequence[tuple[str, str]]) -> list[bool]:
        """``entry_checked`` of each (entry id, folded plate), in one round trip."""
        with map_exceptions("read"):
            results = execute_concurrent(
                self._session, [(self._check, (entry_id,)) for entry_id, _ in entries],
                concurrency=self._concurrency, execution_profile=TUPLE_ROWS,
            )  # fmt: skip
            rows = [result.result_or_exc.one() for result in results]
        return [
            row is not None and row[0] == folded
            for (_, folded), row in zip(entries, rows, strict=True)
        ]

    def hits_for_agency(self, agency_ori: str, limit: int = 100) -> list[dict[str, Any]]:
        """An agency's hits, newest first, every column."""
        return self._dicts(self._hits, (agency_ori, limit))

    def audit_events(self, day: str, limit: int = 100) -> list[dict[str, Any]]:
        """The audit trail of one UTC day (YYYY-MM-DD), newest first, every column."""
        return self._dicts(self._audit, (day, limit))

    def count(self, table: str) -> int:
        """The rows of one of the store's tables (a full scan: for tests and demos)."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table}")
        with map_exceptions("read"):
            statement = self._counts.get(table)
            if statement is None:
                statement = self._session.prepare(f"SELECT count(*) FROM {self._ks}.{table}")
                self._counts[table] = statement
            row = self._session.execute(statement, execution_profile=TUPLE_ROWS).one()
        return int(row[0]) if row else 0

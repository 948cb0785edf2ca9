"""Holds in the store: the hold rows, and every copy of a held read rewritten.

A read has copies in ``reads_by_plate``, ``plates_by_folded_plate``, ``plate_crops``,
and its hits in ``hits_by_agency`` and ``hits_by_id``. Holding a read rewrites each copy,
every column, with the hold's TTL (Cassandra keeps a TTL per cell, so a partial rewrite
would leave a disposition or a crop expiring on the old date); releasing it rewrites
them with what is left of the original retention, or to expire within the second if that
has passed (never a delete: these tables keep a short gc grace, ``retention.py``). Each
rewrite carries the timestamp of its new destruction date, or one just after what the
cells carry when that is not later, so it wins, and later holds' rewrites win over it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from connectors.cassandra.retention import write_timestamp
from connectors.cassandra.rows import (
    CROP_COLUMNS,
    DAY_COLUMNS,
    HIT_COLUMNS,
    HIT_ID_COLUMNS,
    READ_COLUMNS,
    read_day,
    utc,
)
from connectors.cassandra.schema import ADDED_COLUMNS
from connectors.cassandra.session import DICT_ROWS, map_exceptions
from schemas.holds import Hold, HoldKind, HoldStatus
from schemas.plates import confusable_key

# The write timestamps selected with each copy (not columns: never written back).
_STAMPS = ("lprx_stamp", "lprx_stamp_2")
# A hit row's columns, its disposition's included.
_HIT_ROW = tuple(dict.fromkeys((*HIT_COLUMNS, *ADDED_COLUMNS["hits_by_agency"])))


def _cols(columns: Iterable[str]) -> str:
    return ", ".join(columns)


HOLD_COLUMNS = (
    "hold_id", "agency_ori", "kind", "case_number", "reason", "placed_by", "placed_at",
    "review_by", "plate", "window_from", "window_to", "read_ids", "requester", "statement",
    "status", "released_by", "released_at", "release_note",
)  # fmt: skip


@dataclass(frozen=True)
class HeldRead:
    """A read as a hold found it: where it is stored, and its original destruction date."""

    read_id: str
    plate: str
    collected_at: datetime
    agency_ori: str
    expires_at: datetime


def hold_row(hold: Hold) -> tuple[Any, ...]:
    return (
        hold.hold_id, hold.agency_ori, hold.kind.value, hold.case_number, hold.reason,
        hold.placed_by, hold.placed_at, hold.review_by, hold.plate, hold.window_from,
        hold.window_to, set(hold.read_ids) or None, hold.requester, hold.statement,
        hold.status.value, hold.released_by, hold.released_at, hold.release_note,
    )  # fmt: skip


def hold_from_row(row: dict[str, Any]) -> Hold:
    def when(name: str) -> datetime | None:
        return utc(row[name]) if row[name] is not None else None

    return Hold(
        hold_id=row["hold_id"], agency_ori=row["agency_ori"], kind=HoldKind(row["kind"]),
        case_number=row["case_number"], reason=row["reason"], placed_by=row["placed_by"],
        placed_at=utc(row["placed_at"]), review_by=utc(row["review_by"]), plate=row["plate"],
        window_from=when("window_from"), window_to=when("window_to"),
        read_ids=frozenset(row["read_ids"] or ()), requester=row["requester"],
        statement=row["statement"], status=HoldStatus(row["status"]),
        released_by=row["released_by"], released_at=when("released_at"),
        release_note=row["release_note"],
    )  # fmt: skip


class HoldStore:
    """Hold rows and the rewriting of held reads, on one keyspace."""

    def __init__(self, session: Session, ks: str) -> None:
        self._session = session
        self._ks = ks
        self._inserts: dict[tuple[str, tuple[str, ...]], PreparedStatement] = {}
        with map_exceptions("statement preparation"):
            prepare = session.prepare
            markers = ", ".join("?" for _ in HOLD_COLUMNS)
            self._save = prepare(
                f"INSERT INTO {ks}.holds ({', '.join(HOLD_COLUMNS)}) VALUES ({markers})"
            )
            self._hold = prepare(f"SELECT * FROM {ks}.holds WHERE hold_id = ?")
            self._all = prepare(f"SELECT * FROM {ks}.holds")
            self._window = prepare(
                f"SELECT read_id, plate, collected_at, agency_ori, expires_at FROM "
                f"{ks}.reads_by_plate WHERE plate = ? AND collected_at >= ? AND collected_at <= ?"
            )
            self._plate = prepare(
                f"SELECT read_id, plate, collected_at, agency_ori, expires_at FROM "
                f"{ks}.reads_by_plate WHERE plate = ?"
            )
            self._held = prepare(
                f"INSERT INTO {ks}.held_reads (hold_id, read_id, plate, collected_at, "
                "agency_ori, expires_at) VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"
            )
            self._read_hold = prepare(
                f"INSERT INTO {ks}.read_holds (read_id, hold_id) VALUES (?, ?) USING TTL ?"
            )
            self._forget_held = prepare(f"DELETE FROM {ks}.held_reads WHERE hold_id = ?")
            self._forget_read_hold = prepare(
                f"DELETE FROM {ks}.read_holds WHERE read_id = ? AND hold_id = ?"
            )
            self._held_reads = prepare(
                f"SELECT read_id, plate, collected_at, agency_ori, expires_at "
                f"FROM {ks}.held_reads WHERE hold_id = ?"
            )
            self._holds_of_read = prepare(f"SELECT hold_id FROM {ks}.read_holds WHERE read_id = ?")
            # Each copy with the latest write timestamp of its cells (``_STAMPS``).
            self._read_copy = prepare(
                f"SELECT {_cols(READ_COLUMNS)}, WRITETIME(agency_ori) AS {_STAMPS[0]} FROM "
                f"{ks}.reads_by_plate "
                "WHERE plate = ? AND collected_at = ? AND read_id = ?"
            )
            self._spelling_copy = prepare(
                f"SELECT * FROM {ks}.plates_by_folded_plate WHERE folded_plate = ? AND "
                "plate = ? AND collected_at = ? AND read_id = ?"
            )
            self._day_copy = prepare(
                f"SELECT {_cols(DAY_COLUMNS)}, WRITETIME(plate) AS {_STAMPS[0]} FROM "
                f"{ks}.reads_by_agency_day "
                "WHERE agency_ori = ? AND day = ? AND collected_at = ? AND read_id = ?"
            )
            self._crop_copy = prepare(
                f"SELECT {_cols(CROP_COLUMNS)}, WRITETIME(jpeg) AS {_STAMPS[0]} "
                f"FROM {ks}.plate_crops WHERE read_id = ?"
            )
            # Within one agency's partition: a read's hits come at or after its collection.
            self._hit_copies = prepare(
                f"SELECT {_cols(_HIT_ROW)}, WRITETIME(plate) AS {_STAMPS[0]}, "
                "WRITETIME(disposition) AS "
                f"{_STAMPS[1]} FROM {ks}.hits_by_agency WHERE agency_ori = ? AND "
                "matched_at >= ? AND read_id = ? ALLOW FILTERING"
            )
            self._hit_id_copy = prepare(
                f"SELECT {_cols(HIT_ID_COLUMNS)}, WRITETIME(agency_ori) AS {_STAMPS[0]} "
                f"FROM {ks}.hits_by_id "
                "WHERE hit_id = ?"
            )

    # --- hold rows -------------------------------------------------------------------

    def save(self, hold: Hold) -> None:
        with map_exceptions("write"):
            self._session.execute(self._save, hold_row(hold))

    def hold(self, hold_id: str) -> Hold | None:
        rows = self._dicts(self._hold, (hold_id,))
        return hold_from_row(rows[0]) if rows else None

    def holds(self) -> list[Hold]:
        """Every hold (a small table: one row per case)."""
        return [hold_from_row(row) for row in self._dicts(self._all, ())]

    # --- the reads a hold covers ----------------------------------------------------

    def reads_of(self, hold: Hold) -> list[HeldRead]:
        """The stored reads the hold covers (its plate, then its ids or its window)."""
        if hold.read_ids:
            rows = self._dicts(self._plate, (hold.plate,))
        else:
            rows = self._dicts(self._window, (hold.plate, hold.window_from, hold.window_to))
        reads = [_held_read(row) for row in rows]
        return [r for r in reads if hold.covers(r.plate, r.collected_at, r.read_id)]

    def record_held(self, hold_id: str, read: HeldRead, ttl: int) -> None:
        """That the hold keeps the read: a copy of the read's key, so it expires with the
        read's held copies (``ttl``)."""
        with map_exceptions("write"):
            self._session.execute(
                self._held,
                (hold_id, read.read_id, read.plate, read.collected_at, read.agency_ori,
                 read.expires_at, ttl),
            )  # fmt: skip
            self._session.execute(self._read_hold, (read.read_id, hold_id, ttl))

    def forget_held(self, hold_id: str, reads: Sequence[HeldRead]) -> None:
        """A released hold's record of its reads, removed (the hold row stays)."""
        with map_exceptions("write"):
            for read in reads:
                self._session.execute(self._forget_read_hold, (read.read_id, hold_id))
            self._session.execute(self._forget_held, (hold_id,))

    def keep(self, holds: Sequence[Hold], read: HeldRead, now: datetime) -> bool:
        """Keeps every copy of ``read`` as long as the longest of ``holds`` and of the
        other active holds on it says (or its own date, if later), each of ``holds``
        recording it; False if the read is gone."""
        given = {hold.hold_id for hold in holds}
        others = [
            other
            for hold_id in self.holds_of_read(read.read_id)
            if hold_id not in given and (other := self.hold(hold_id)) is not None
            if other.status is HoldStatus.ACTIVE
        ]
        until = max([read.expires_at, *(hold.held_until for hold in [*holds, *others])])
        for hold in holds:
            self.record_held(hold.hold_id, read, ttl_until(until, now))
        return self.rewrite(read, until, now) > 0

    def held_reads(self, hold_id: str) -> list[HeldRead]:
        return [_held_read(row) for row in self._dicts(self._held_reads, (hold_id,))]

    def holds_of_read(self, read_id: str) -> list[str]:
        return [row["hold_id"] for row in self._dicts(self._holds_of_read, (read_id,))]

    # --- every copy of a read --------------------------------------------------------

    def rewrite(self, read: HeldRead, until: datetime, now: datetime) -> int:
        """Every copy of the read, every column, written again to expire at ``until``.
        Returns the rows rewritten (0: the read is gone).

        The rows carry the timestamp of their destruction date (``retention.py``), and a
        write wins only with a later timestamp: so the copies are written with the
        timestamp of ``until`` or, when that is not later than what they carry (a
        release, a shorter review), just after it."""
        copies = self._copies(read)
        stamps = [row[name] for _table, row in copies for name in _STAMPS if row.get(name)]
        stamp = max([write_timestamp(until), *(s + 1 for s in stamps)])
        ttl = ttl_until(until, now)
        for table, row in copies:
            self._insert(table, row, ttl, stamp)
        return len(copies)

    def expire_now(self, read: HeldRead, now: datetime) -> int:
        """Every copy of the read, set to expire within the second. Not a delete: these
        tables keep a short gc grace, safe only for cells that expire (retention.py)."""
        return self.rewrite(read, now, now)

    def _copies(self, read: HeldRead) -> list[tuple[str, dict[str, Any]]]:
        found: list[tuple[str, dict[str, Any]]] = []
        key = (read.plate, read.collected_at, read.read_id)
        found += [("reads_by_plate", row) for row in self._dicts(self._read_copy, key)]
        found += [
            ("plates_by_folded_plate", row)
            for row in self._dicts(self._spelling_copy, (confusable_key(read.plate), *key))
        ]
        day_key = (read.agency_ori, read_day(read.collected_at), read.collected_at, read.read_id)
        found += [("reads_by_agency_day", row) for row in self._dicts(self._day_copy, day_key)]
        found += [("plate_crops", row) for row in self._dicts(self._crop_copy, (read.read_id,))]
        hits = self._dicts(self._hit_copies, (read.agency_ori, read.collected_at, read.read_id))
        found += [("hits_by_agency", row) for row in hits]
        for hit in hits:
            found += [
                ("hits_by_id", row) for row in self._dicts(self._hit_id_copy, (hit["hit_id"],))
            ]
        return found

    def _insert(self, table: str, row: dict[str, Any], ttl: int, stamp: int) -> None:
        columns = tuple(
            name for name, value in row.items() if value is not None and name not in _STAMPS
        )
        statement = self._inserts.get((table, columns))
        with map_exceptions("write"):
            if statement is None:
                markers = ", ".join("?" for _ in columns)
                statement = self._session.prepare(
                    f"INSERT INTO {self._ks}.{table} ({', '.join(columns)}) VALUES ({markers}) "
                    "USING TTL ? AND TIMESTAMP ?"
                )
                self._inserts[(table, columns)] = statement
            self._session.execute(statement, (*(row[name] for name in columns), ttl, stamp))

    def _dicts(self, statement: PreparedStatement, params: Iterable[Any]) -> list[dict[str, Any]]:
        with map_exceptions("read"):
            return list(
                self._session.execute(statement, tuple(params), execution_profile=DICT_ROWS)
            )


def ttl_until(until: datetime, now: datetime) -> int:
    """Seconds from ``now`` to ``until``, rounded up, at least 1 (0 would mean forever)."""
    return max(1, math.ceil((until - now).total_seconds()))


class ActiveHolds:
    """The active holds, re-read every ``refresh_seconds`` (a small table), so the store
    keeps a read that arrives after its hold was placed. A hold first seen here gets
    ``on_new`` (the store keeps what it already holds of it): a read stored between the
    hold's placement and this worker's next refresh is kept too."""

    def __init__(
        self,
        holds: HoldStore,
        on_new: Callable[[Hold], None],
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._holds = holds
        self._on_new = on_new
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._active: list[Hold] = []
        self._seen: set[str] = set()
        self._loaded_at: float | None = None

    def covering(self, plate: str, collected_at: datetime, read_id: str) -> list[Hold]:
        now = self._clock()
        if self._loaded_at is None or now - self._loaded_at >= self._refresh_seconds:
            self._refresh(now)
        return [hold for hold in self._active if hold.covers(plate, collected_at, read_id)]

    def _refresh(self, now: float) -> None:
        active = [hold for hold in self._holds.holds() if hold.status is HoldStatus.ACTIVE]
        for hold in active:
            if hold.hold_id not in self._seen:
                self._on_new(hold)
                self._seen.add(hold.hold_id)
        self._active, self._loaded_at = active, now


def _held_read(row: dict[str, Any]) -> HeldRead:
    return HeldRead(
        row["read_id"], row["plate"], utc(row["collected_at"]), row["agency_ori"],
        utc(row["expires_at"]),
    )  # fmt: skip

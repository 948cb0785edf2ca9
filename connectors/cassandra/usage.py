"""Usage counters for the public log of use (13.824 subd. 5), kept without plate data.

The store counts each read it keeps by agency, UTC day, camera and hour of collection,
and each hit by agency, day, category and list. Rows hold no plate and no read id, so
they may outlive the reads. The store sends a batch's counter updates in the same
``execute_concurrent`` as its rows (``writes.py``), so they cost no round trip of their
own; they count every record of the batch not refused as expired. Counters are not
idempotent, so the figures can run over: a batch written again (a worker killed between
the write and its commit, or a batch retried after a transient failure of some of its
rows) is counted again, and a record whose own rows Cassandra refuses (a dead letter) is
counted. A counter update that fails is logged and skipped (the rows do not wait on it),
so they can run under during an outage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session
from cassandra.query import PreparedStatement

from connectors.cassandra.session import TUPLE_ROWS, map_exceptions
from schemas.records import Hit, PlateRead

CounterUpdate = tuple[PreparedStatement, tuple[Any, ...]]
"""One counter's update: its statement and values, for ``execute_concurrent``."""


@dataclass(frozen=True)
class CameraHour:
    day: str
    camera_id: str
    hour: int
    reads: int


@dataclass(frozen=True)
class HitCount:
    day: str
    category: str
    list_id: str
    hits: int


class UsageCounters:
    def __init__(self, session: Session, ks: str) -> None:
        self._session = session
        with map_exceptions("statement preparation"):
            prepare = session.prepare
            self._add_reads = prepare(
                f"UPDATE {ks}.usage_reads SET reads = reads + ? WHERE agency_ori = ? AND "
                "day = ? AND camera_id = ? AND hour = ?"
            )
            self._add_hits = prepare(
                f"UPDATE {ks}.usage_hits SET hits = hits + ? WHERE agency_ori = ? AND day = ? "
                "AND category = ? AND list_id = ?"
            )
            self._reads = prepare(
                f"SELECT day, camera_id, hour, reads FROM {ks}.usage_reads WHERE agency_ori = ? "
                "AND day >= ? AND day <= ?"
            )
            self._hits = prepare(
                f"SELECT day, category, list_id, hits FROM {ks}.usage_hits WHERE agency_ori = ? "
                "AND day >= ? AND day <= ?"
            )

    def reads_counted(self, reads: Sequence[PlateRead]) -> list[CounterUpdate]:
        """The updates that count ``reads``: one per agency, day, camera and hour."""
        tally = Counter(
            (r.agency_ori, f"{r.collected_at:%Y-%m-%d}", r.camera_id, r.collected_at.hour)
            for r in reads
        )
        return [(self._add_reads, (n, *key)) for key, n in tally.items()]

    def hits_counted(self, hits: Sequence[Hit]) -> list[CounterUpdate]:
        """The updates that count ``hits``: one per agency, day, category and list."""
        tally = Counter(
            (h.read.agency_ori, f"{h.matched_at:%Y-%m-%d}", h.entry.category.value, h.entry.list_id)
            for h in hits
        )
        return [(self._add_hits, (n, *key)) for key, n in tally.items()]

    def camera_hours(self, agency_ori: str, first_day: str, last_day: str) -> list[CameraHour]:
        with map_exceptions("read"):
            rows = self._session.execute(
                self._reads, (agency_ori, first_day, last_day), execution_profile=TUPLE_ROWS
            )
            return [CameraHour(day, camera, hour, int(n)) for day, camera, hour, n in rows]

    def hit_counts(self, agency_ori: str, first_day: str, last_day: str) -> list[HitCount]:
        with map_exceptions("read"):
            rows = self._session.execute(
                self._hits, (agency_ori, first_day, last_day), execution_profile=TUPLE_ROWS
            )
            return [HitCount(day, category, list_id, int(n)) for day, category, list_id, n in rows]

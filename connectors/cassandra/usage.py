"""Usage counters for the public log of use (13.824 subd. 5), kept without plate data.

The store counts each read it keeps by agency, UTC day, camera and hour of collection,
and each hit by agency, day, category and list. Rows hold no plate and no read id, so
they may outlive the reads. Counters are not idempotent: a batch written twice (a worker
killed between the write and its commit) is counted twice, so the figures can run over
by at most one store batch per such crash; a counter write that fails is logged and
skipped (the reads are already stored), so they can run under during an outage.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent

from connectors.cassandra.session import TUPLE_ROWS, map_exceptions
from schemas.errors import LprxError
from schemas.records import Hit, PlateRead

log = logging.getLogger(__name__)


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
    def __init__(self, session: Session, ks: str, concurrency: int) -> None:
        self._session = session
        self._concurrency = concurrency
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

    def count_reads(self, reads: Sequence[PlateRead]) -> None:
        tally = Counter(
            (r.agency_ori, f"{r.collected_at:%Y-%m-%d}", r.camera_id, r.collected_at.hour)
            for r in reads
        )
        self._add(self._add_reads, [(n, *key) for key, n in tally.items()])

    def count_hits(self, hits: Sequence[Hit]) -> None:
        tally = Counter(
            (h.read.agency_ori, f"{h.matched_at:%Y-%m-%d}", h.entry.category.value, h.entry.list_id)
            for h in hits
        )
        self._add(self._add_hits, [(n, *key) for key, n in tally.items()])

    def _add(self, statement: object, rows: list[tuple[object, ...]]) -> None:
        if not rows:
            return
        try:
            with map_exceptions("usage count"):
                execute_concurrent(
                    self._session, [(statement, row) for row in rows],
                    concurrency=self._concurrency, raise_on_first_error=True,
                )  # fmt: skip
        except LprxError as error:
            log.warning("usage counters not updated (the public figures run under): %s", error)

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

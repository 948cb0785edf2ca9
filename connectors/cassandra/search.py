"""The look-ups behind a scoped search: a plate's partition, or an agency's day.

Both select the same columns, bounded by a time window and a row limit; the search
service (pipelines/services/search.py) decides which agencies may be asked, filters by
wildcard and area, and pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cassandra.cluster import Session

from connectors.cassandra.rows import utc
from connectors.cassandra.session import TUPLE_ROWS, map_exceptions

_COLUMNS = (
    "read_id, plate, collected_at, agency_ori, camera_id, latitude, longitude, confidence, "
    "expires_at"
)


@dataclass(frozen=True, slots=True)
class ReadRow:
    """A stored read as a search lists it."""

    read_id: str
    plate: str
    collected_at: datetime
    agency_ori: str
    camera_id: str
    latitude: float | None
    longitude: float | None
    confidence: float
    expires_at: datetime


def _row(row: Any) -> ReadRow:
    read_id, plate, collected_at, agency, camera, lat, lon, confidence, expires_at = row
    return ReadRow(
        read_id, plate, utc(collected_at), agency, camera, lat, lon, float(confidence or 0),
        utc(expires_at),
    )  # fmt: skip


class SearchQueries:
    def __init__(self, session: Session, ks: str) -> None:
        self._session = session
        window = "collected_at >= ? AND collected_at <= ? LIMIT ?"
        with map_exceptions("statement preparation"):
            self._plate = session.prepare(
                f"SELECT {_COLUMNS} FROM {ks}.reads_by_plate WHERE plate = ? AND {window}"
            )
            self._day = session.prepare(
                f"SELECT {_COLUMNS} FROM {ks}.reads_by_agency_day "
                f"WHERE agency_ori = ? AND day = ? AND {window}"
            )

    def _rows(self, statement: Any, params: tuple[Any, ...]) -> list[ReadRow]:
        with map_exceptions("read"):
            return [
                _row(r)
                for r in self._session.execute(statement, params, execution_profile=TUPLE_ROWS)
            ]

    def plate_reads(self, plate: str, start: datetime, end: datetime, limit: int) -> list[ReadRow]:
        """A plate's reads (every agency's) collected in [start, end], newest first."""
        return self._rows(self._plate, (plate, start, end, limit))

    def day_reads(
        self, agency_ori: str, day: str, start: datetime, end: datetime, limit: int
    ) -> list[ReadRow]:
        """An agency's reads of one UTC day collected in [start, end], newest first."""
        return self._rows(self._day, (agency_ori, day, start, end, limit))

"""Scoped search of stored reads: by plate, partial plate (``*`` and ``?``), time window
and area (a box or a radius), paged, within the agencies the person may see.

A full plate is one partition of ``reads_by_plate`` (every agency's reads of the plate,
scoped here); a partial plate or an area walks ``reads_by_agency_day``, one partition per
visible agency and UTC day of the window, newest day first, reading at most
``api_search_max_scanned`` rows a page, shared among the agencies of a day. When a page
stops at that limit it shows only reads newer than the oldest row some partition may
still hold more of (the frontier), and its cursor goes on from there: pages never skip a
read nor show one twice (tests/unit/pipelines/test_search.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from connectors.cassandra.search import ReadRow
from connectors.kafka.audit import AuditWriter
from pipelines.identity.config import ApiConfig
from pipelines.services.scope import Justification, PersonAccess, readable_agencies
from pipelines.stages.share import AgreementBook
from schemas.errors import RequestRefused
from schemas.hotlist_policy import JurisdictionPolicy
from schemas.people import Principal
from schemas.plates import WILDCARD_CHARACTERS, WildcardPattern, normalize_plate, wildcard_problem
from schemas.records import utcnow

_EARTH_RADIUS_M = 6_371_000.0
# A cursor's read id that sorts after every real one (uuid4 text): a page cursor at a time
# alone, so the next page starts with every read of that time.
_AFTER_EVERY_ID = "~"


class SearchStore(Protocol):
    def plate_reads(
        self, plate: str, start: datetime, end: datetime, limit: int
    ) -> list[ReadRow]: ...

    def day_reads(
        self, agency_ori: str, day: str, start: datetime, end: datetime, limit: int
    ) -> list[ReadRow]: ...


@dataclass(frozen=True)
class Box:
    south: float
    west: float
    north: float
    east: float

    def holds(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


@dataclass(frozen=True)
class Circle:
    latitude: float
    longitude: float
    radius_m: float

    def holds(self, lat: float, lon: float) -> bool:
        p1, p2 = math.radians(self.latitude), math.radians(lat)
        dp, dl = p2 - p1, math.radians(lon - self.longitude)
        h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))) <= self.radius_m


@dataclass(frozen=True)
class ReadQuery:
    start: datetime
    end: datetime
    plate: str | None = None
    box: Box | None = None
    circle: Circle | None = None
    agencies: tuple[str, ...] = ()  # only these (each must be visible); empty: all visible
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class ReadPage:
    reads: list[ReadRow]
    agencies: list[str]  # searched
    next_cursor: str | None
    scan_limited: bool  # the page stopped at the scan limit: narrow the query


def _cursor(row: ReadRow) -> str:
    return f"{row.collected_at.isoformat()}~{row.read_id}"


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        when, read_id = cursor.split("~", 1)
        at = datetime.fromisoformat(when)
    except ValueError:
        raise RequestRefused("the cursor is not one a previous page gave") from None
    if at.tzinfo is None:
        raise RequestRefused("the cursor is not one a previous page gave")
    return at.astimezone(UTC), read_id


def _order(row: ReadRow) -> tuple[datetime, str]:
    return row.collected_at, row.read_id


def _check(query: ReadQuery, config: ApiConfig, now: datetime) -> str | None:
    """The plate as searched (normalised, wildcards kept), or None; raises
    ``RequestRefused`` for a query lprx will not run."""
    if query.start.tzinfo is None or query.end.tzinfo is None:
        raise RequestRefused("start and end need a time zone")
    if query.end <= query.start:
        raise RequestRefused("the window ends before it starts")
    if query.end - query.start > timedelta(days=config.api_search_max_days):
        raise RequestRefused(f"a search covers at most {config.api_search_max_days} days")
    if not 1 <= query.limit <= config.api_search_max_page:
        raise RequestRefused(f"a page holds 1 to {config.api_search_max_page} reads")
    if query.box is not None and query.circle is not None:
        raise RequestRefused("give a box or a circle, not both")
    plate = None
    if query.plate is not None:
        kept = "".join(c for c in query.plate.upper() if c in WILDCARD_CHARACTERS or c.isalnum())
        plate = "".join(c if c in WILDCARD_CHARACTERS else normalize_plate(c) for c in kept)
        if not plate:
            raise RequestRefused("the plate holds no plate characters")
        if set(plate) & WILDCARD_CHARACTERS:
            problem = wildcard_problem(plate)
            if problem is not None:
                raise RequestRefused(problem)
    if plate is None and query.box is None and query.circle is None:
        raise RequestRefused("a search names a plate (full or partial) or an area")
    return plate


def search_reads(
    store: SearchStore, trail: AuditWriter, book: AgreementBook, principal: Principal,
    query: ReadQuery, why: Justification, config: ApiConfig, now: datetime | None = None,
    policies: Mapping[str, JurisdictionPolicy] | None = None,
) -> ReadPage:  # fmt: skip
    """One page of the reads the person may see that the query asks for. The search is
    audited (query, justification, agencies searched) before anything is read, and the
    ids returned after; asking for an agency one may not see is refused and audited."""
    now = now or utcnow()
    # An agreement excluding the search's purpose shares nothing for it.
    visible = readable_agencies(book, principal.agency_ori, now, why.purpose.value, policies)
    details = {"query": json.dumps(asdict(query), default=str, sort_keys=True)}
    access = PersonAccess(trail, principal, "reads", f"plate={query.plate or '*'}", why, details)
    try:
        plate = _check(query, config, now)
    except RequestRefused as refused:
        access.deny(str(refused))
        raise
    outside = sorted(set(query.agencies) - visible)
    if outside:
        raise access.deny(f"no agreement in force shares the reads of {', '.join(outside)} "
                          f"with {principal.agency_ori} for {why.purpose.value}")  # fmt: skip
    access.open()
    agencies = sorted(set(query.agencies) or visible)
    end = query.end
    after: tuple[datetime, str] | None = None
    if query.cursor is not None:
        after = _parse_cursor(query.cursor)
        end = min(end, after[0])
    rows, frontier = _candidates(store, plate, agencies, query.start, end, config)
    wanted = [
        r for r in rows
        if _keeps(query, plate, r) and (after is None or _order(r) < after)
        and (frontier is None or r.collected_at > frontier)
    ]  # fmt: skip
    wanted.sort(key=_order, reverse=True)
    page = wanted[: query.limit]
    access.shown(r.read_id for r in page)
    if len(wanted) > query.limit or (frontier is not None and page):
        cursor: str | None = _cursor(page[-1])
    elif frontier is not None:  # nothing shown above the frontier: go on from it
        cursor = f"{frontier.isoformat()}~{_AFTER_EVERY_ID}"
        if cursor == query.cursor:  # as many reads at one moment as a page may scan
            raise RequestRefused(
                f"more reads at {frontier.isoformat()} than one page scans: narrow the search "
                "by plate, agency or area"
            )
    else:
        cursor = None
    return ReadPage(page, agencies, cursor, frontier is not None)


def _keeps(query: ReadQuery, plate: str | None, row: ReadRow) -> bool:
    wildcard = plate is not None and bool(set(plate) & WILDCARD_CHARACTERS)
    if wildcard and not WildcardPattern(plate or "").fullmatch(row.plate):
        return False
    area = query.box or query.circle
    if area is not None:
        if row.latitude is None or row.longitude is None:
            return False
        return area.holds(row.latitude, row.longitude)
    return True


def _candidates(
    store: SearchStore, plate: str | None, agencies: list[str], start: datetime,
    end: datetime, config: ApiConfig,
) -> tuple[list[ReadRow], datetime | None]:  # fmt: skip
    """The rows to filter, and, when the scan limit cut them short, the frontier: every
    stored row collected after it was read (older ones are for the next page)."""
    budget = config.api_search_max_scanned
    if plate is not None and not set(plate) & WILDCARD_CHARACTERS:
        rows = store.plate_reads(plate, start, end, budget)
        allowed = set(agencies)
        frontier = rows[-1].collected_at if len(rows) >= budget else None
        return [r for r in rows if r.agency_ori in allowed], frontier
    found: list[ReadRow] = []
    day = end.astimezone(UTC).date()
    while day >= start.astimezone(UTC).date():
        # Each agency's partition of the day gets its share of what is left, so a page
        # always reaches the newest rows of every agency; a partition that fills its
        # share may hold older rows still, which are for the next page.
        share = max(1, budget // len(agencies))
        cuts: list[datetime] = []
        for agency in agencies:
            rows = store.day_reads(agency, day.isoformat(), start, end, share)
            found.extend(rows)
            budget -= len(rows)
            if len(rows) >= share:
                cuts.append(rows[-1].collected_at)
        if cuts:
            return found, max(cuts)
        if day == date.min:  # a window from year 1 (any input): no day before it
            break
        day -= timedelta(days=1)
    return found, None

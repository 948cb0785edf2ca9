"""The rules a read must pass to be kept: a plate of plate length, a sane collection
time, a confidence in range, and retention not yet over. Ingest checks them before a
read is acknowledged; the normalize stage checks them again for reads from OCR."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from schemas.errors import InvalidRecord
from schemas.plates import (
    MAX_PLATE_LENGTH,
    MIN_PLATE_LENGTH,
    has_plate_length,
    normalize_plate,
    normalize_region,
)
from schemas.records import PlateCandidate, PlateRead
from schemas.retention import RetentionExpired, expires_at

# Camera clocks drift; a read far in the future is a broken clock, not a read.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Times every copy of a record can hold: Avro timestamp-millis decodes, and Cassandra
# stores, only what Python's datetime can hold in UTC; a time such as
# 9999-12-31T23:59:59-14:00 is year 10000 in UTC and would encode but never decode.
EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def checked_time(value: datetime, what: str) -> datetime:
    """``value`` in UTC; InvalidRecord when it lacks a zone or is outside the times a
    record can carry, so it is refused at the edge instead of breaking a decoder later."""
    if value.tzinfo is None:
        raise InvalidRecord(f"{what} {value.isoformat()} has no time zone")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise InvalidRecord(f"{what} {value.isoformat()} is outside the years 1900-9999") from None
    if not EARLIEST_TIME <= utc <= LATEST_TIME:
        raise InvalidRecord(f"{what} {value.isoformat()} is outside the years 1900-9999")
    return utc


def normalize_read(read: PlateRead, retention_days: int, now: datetime) -> PlateRead:
    """The read in canonical form; raises InvalidRecord or RetentionExpired."""
    checked_time(read.collected_at, "collected_at")
    plate = normalize_plate(read.plate)
    if not has_plate_length(plate):
        raise InvalidRecord(
            f"plate has {len(plate)} characters after normalisation "
            f"(allowed {MIN_PLATE_LENGTH}-{MAX_PLATE_LENGTH})"
        )
    if read.collected_at > now + MAX_CLOCK_SKEW:
        raise InvalidRecord(
            f"collected_at {read.collected_at.isoformat()} is in the future (now {now.isoformat()})"
        )
    if not 0.0 <= read.confidence <= 100.0:
        raise InvalidRecord(f"confidence {read.confidence} is outside 0-100")
    expiry = expires_at(read.collected_at, retention_days)
    if expiry <= now:
        raise RetentionExpired(
            f"collected {read.collected_at.isoformat()}, past the {retention_days}-day retention"
        )
    candidates: dict[str, PlateCandidate] = {}
    for candidate in read.candidates:
        text = normalize_plate(candidate.plate)
        if text and (text not in candidates or candidates[text].confidence < candidate.confidence):
            candidates[text] = dataclasses.replace(candidate, plate=text)
    return dataclasses.replace(
        read,
        plate=plate,
        region=normalize_region(read.region),
        candidates=tuple(sorted(candidates.values(), key=lambda c: -c.confidence)),
        # Expiry is always recomputed here: a camera cannot extend its own retention.
        expires_at=min(read.expires_at, expiry),
    )

"""The rules a read must pass to be kept: a plate of plate length, a sane collection
time, a confidence in range, and retention not yet over. Ingest checks them before a
read is acknowledged; the normalize stage checks them again for reads from OCR."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

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


def normalize_read(read: PlateRead, retention_days: int, now: datetime) -> PlateRead:
    """The read in canonical form; raises InvalidRecord or RetentionExpired."""
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

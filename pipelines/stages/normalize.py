"""Normalise a raw read: canonical plate text, sane times, retention checked."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta

from pipelines.errors import InvalidRecord
from pipelines.records import PlateCandidate, PlateRead
from pipelines.retention import RetentionExpired, expires_at

STAGE = "normalize"

_NOT_PLATE_CHARACTER = re.compile(r"[^A-Z0-9]")
MIN_PLATE_LENGTH = 2
MAX_PLATE_LENGTH = 10
# Camera clocks drift; a read far in the future is a broken clock, not a read.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def normalize_plate(text: str) -> str:
    """Upper case, A-Z and 0-9 only: 'abc-123' and 'ABC 123' are one plate."""
    return _NOT_PLATE_CHARACTER.sub("", text.upper())


def normalize_region(region: str | None) -> str | None:
    """OpenALPR style 'us-mn'; accepts 'MN' or 'US-MN'."""
    if not region:
        return None
    value = region.strip().lower()
    if len(value) == 2 and value.isalpha():
        value = f"us-{value}"
    return value


def normalize_read(read: PlateRead, retention_days: int, now: datetime) -> PlateRead:
    """The read in canonical form; raises InvalidRecord or RetentionExpired."""
    plate = normalize_plate(read.plate)
    if not MIN_PLATE_LENGTH <= len(plate) <= MAX_PLATE_LENGTH:
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

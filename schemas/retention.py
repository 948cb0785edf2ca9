"""Retention counted from collection (Minnesota Statutes 13.824 subd. 3).

A read collected 59 days ago under a 60-day rule lives one more day; one collected more
than 60 days ago must not be stored at all.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import PermanentError

DAY_MS = 24 * 3600 * 1000


class RetentionExpired(PermanentError):
    """The read is already past its destruction date: refuse it, keep nothing."""


class RetentionPolicy(BaseModel):
    """How long each agency's reads are kept; every copy of a read follows it."""

    model_config = ConfigDict(frozen=True)

    retention_days: int = Field(
        default=60,
        description="Days a read not under investigative hold is kept after collection "
        "(Minnesota Statutes 13.824 subd. 3).",
    )
    retention_days_by_agency: dict[str, int] = Field(
        default_factory=dict,
        description="Per-jurisdiction retention in days, keyed by agency ORI.",
    )

    def retention_for(self, agency_ori: str) -> int:
        return self.retention_days_by_agency.get(agency_ori, self.retention_days)

    def longest_retention_ms(self) -> int:
        """The longest retention of any agency: no topic may keep reads longer."""
        longest = max([self.retention_days, *self.retention_days_by_agency.values()])
        return longest * DAY_MS


def expires_at(collected_at: datetime, retention_days: int) -> datetime:
    """The destruction date of a read collected at ``collected_at``. A collection time so
    late that the date is past year 9999 gives the latest time there is; such a read is
    in the future and refused anyway (found by fuzzing the ingest)."""
    try:
        return collected_at + timedelta(days=retention_days)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def ttl_seconds(expiry: datetime, now: datetime) -> int:
    """Seconds left until ``expiry``, rounded up; refuses a read already expired."""
    left = (expiry - now).total_seconds()
    if left <= 0:
        raise RetentionExpired(f"read expired {-left:.0f} s ago (at {expiry.isoformat()})")
    return math.ceil(left)

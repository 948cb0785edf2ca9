"""Retention counted from collection (Minnesota Statutes 13.824 subd. 3).

A read collected 59 days ago under a 60-day rule lives one more day; one collected more
than 60 days ago must not be stored at all.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from pipelines.errors import PermanentError


class RetentionExpired(PermanentError):
    """The read is already past its destruction date: refuse it, keep nothing."""


def expires_at(collected_at: datetime, retention_days: int) -> datetime:
    return collected_at + timedelta(days=retention_days)


def ttl_seconds(expiry: datetime, now: datetime) -> int:
    """Seconds left until ``expiry``, rounded up; refuses a read already expired."""
    left = (expiry - now).total_seconds()
    if left <= 0:
        raise RetentionExpired(f"read expired {-left:.0f} s ago (at {expiry.isoformat()})")
    return math.ceil(left)

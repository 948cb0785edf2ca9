"""The UTC day an audit event is filed under (``audit_events`` is partitioned by it)."""

from __future__ import annotations

from datetime import datetime

from schemas.records import utcnow


def utc_day(when: datetime | None = None) -> str:
    return (when or utcnow()).strftime("%Y-%m-%d")

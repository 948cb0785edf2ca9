"""The audit trail of a day, as Cassandra keeps it. Reading it is audited too (CJIS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connectors.kafka.audit import AuditWriter
from pipelines.services.access import Requester, open_access
from schemas.records import utcnow


class AuditStore(Protocol):
    def audit_events(self, day: str, limit: int = 100) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class AuditDay:
    day: str  # UTC, YYYY-MM-DD
    rows: list[dict[str, Any]]  # audit_events rows, newest first


def utc_day(when: datetime | None = None) -> str:
    return (when or utcnow()).strftime("%Y-%m-%d")


def audit_trail(
    store: AuditStore, trail: AuditWriter, requester: Requester, day: str | None, limit: int
) -> AuditDay:
    """The events of a UTC day (default today), the look-up itself audited first."""
    wanted = day or utc_day()
    access = open_access(trail, requester, target_kind="audit", target_id=f"day={wanted}")
    rows = store.audit_events(wanted, limit)
    access.shown(len(rows))
    return AuditDay(wanted, rows)

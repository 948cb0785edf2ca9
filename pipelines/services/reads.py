"""Look-ups of stored reads, each an audited access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from connectors.kafka.audit import AuditWriter
from pipelines.services.access import Requester, open_access
from schemas.plates import normalize_plate


class ReadStore(Protocol):
    def reads_for_plate(self, plate: str, limit: int = 100) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class ReadsFound:
    plate: str  # as searched: normalised
    rows: list[dict[str, Any]]  # reads_by_plate rows with their remaining TTL (``ttl``)


def search_reads(
    store: ReadStore, trail: AuditWriter, requester: Requester, plate: str, limit: int
) -> ReadsFound:
    """The stored reads of a plate (``abc-123`` is ``ABC123``), audited with the purpose."""
    wanted = normalize_plate(plate)
    access = open_access(trail, requester, target_kind="reads", target_id=f"plate={wanted}")
    rows = store.reads_for_plate(wanted, limit)
    access.shown(len(rows))
    return ReadsFound(wanted, rows)

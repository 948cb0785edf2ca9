"""Cassandra store for reads, plate crops, hits and the audit trail.

Reads live with a per-row TTL equal to what is left of their retention since
*collection* (tables in ``schema``). Writes are prepared statements run concurrently,
with one outcome per row: a bad row never sinks its batch (``writes``). Look-ups are
prepared too (``queries``). Every driver error reaches callers as one of
``schemas.errors`` (``session``): ``StoreUnavailable`` to retry, ``StoreRejected`` not to.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from connectors.cassandra.audit_chain import AuditChains
from connectors.cassandra.config import CassandraConfig
from connectors.cassandra.holds import ActiveHolds, HeldRead, HoldStore
from connectors.cassandra.queries import HitLocation, Queries
from connectors.cassandra.schema import ensure_schema, keyspace_name
from connectors.cassandra.search import ReadRow, SearchQueries
from connectors.cassandra.session import connect
from connectors.cassandra.usage import UsageCounters
from connectors.cassandra.writes import RowOutcome, Writes
from schemas.holds import Hold
from schemas.records import AuditEvent, Hit, HitDisposition, PlateCrop, PlateRead, utcnow


class CassandraStore:
    """One session on the store's keyspace (made if ``create_schema``), its statements
    prepared once. ``session`` stays open to callers, for what the store does not do."""

    def __init__(self, settings: CassandraConfig, *, create_schema: bool = True) -> None:
        self.keyspace = ks = keyspace_name(settings.cassandra_keyspace)
        self._cluster, self.session = connect(settings)
        try:
            if create_schema:
                ensure_schema(self.session, settings)
            concurrency = settings.cassandra_write_concurrency
            self.usage = UsageCounters(self.session, ks)
            self._writes = Writes(self.session, ks, concurrency, self.usage)
            self._audit = AuditChains(self.session, ks, concurrency)
            self.holds = HoldStore(self.session, ks)
            self._active_holds = ActiveHolds(self.holds, self._keep_all)
            self._queries = Queries(self.session, ks, concurrency)
            self._search = SearchQueries(self.session, ks)
        except BaseException:
            self._cluster.shutdown()
            raise

    def close(self) -> None:
        self._cluster.shutdown()

    def __enter__(self) -> CassandraStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- writes ------------------------------------------------------------------------

    def write_reads(self, reads: Sequence[PlateRead], now: datetime) -> list[RowOutcome]:
        """Each read and its spelling row, with one TTL, and the usage counters; a read is
        ok when both rows are. A read an active hold covers (one placed before it
        arrived) is kept as it says."""
        outcomes = self._writes.reads(reads, now)
        self._keep_held([r for r, o in zip(reads, outcomes, strict=True) if o.ok], now)
        return outcomes

    def write_crops(self, crops: Sequence[PlateCrop], now: datetime) -> list[RowOutcome]:
        """Stores plate crops with the TTL of their reads (counted from collection)."""
        return self._writes.crops(crops, now)

    def write_hits(self, hits: Sequence[Hit], now: datetime) -> list[RowOutcome]:
        """Each hit and its id row, with the read's TTL, and the usage counters; a hit is
        ok when both rows are. The hit of a held read is kept with it."""
        outcomes = self._writes.hits(hits, now)
        self._keep_held([h.read for h, o in zip(hits, outcomes, strict=True) if o.ok], now)
        return outcomes

    def _keep_held(self, reads: Sequence[PlateRead], now: datetime) -> None:
        for read in reads:
            holds = self._active_holds.covering(read.plate, read.collected_at, read.read_id)
            if holds:
                held = HeldRead(
                    read.read_id, read.plate, read.collected_at, read.agency_ori, read.expires_at
                )
                self.holds.keep(holds, held, now)

    def _keep_all(self, hold: Hold) -> None:
        now = utcnow()
        for read in self.holds.reads_of(hold):
            self.holds.keep([hold], read, now)

    def write_disposition(self, disposition: HitDisposition, ttl: int) -> None:
        """Stores the disposition on the hit's row, expiring with it."""
        self._writes.disposition(disposition, ttl)

    def write_audit(self, events: Sequence[AuditEvent]) -> list[RowOutcome]:
        """Each event chained to its agency's trail and kept without a TTL; an event
        chained before (a redelivery) is not chained again (``audit_chain``)."""
        return self._audit.write(events)

    def mark_entry_checked(self, entry_id: str, folded_plate: str, now: datetime) -> None:
        self._writes.mark_entry_checked(entry_id, folded_plate, now)

    def forget_entry_check(self, entry_id: str) -> None:
        """The entry was retracted: if it is listed again, it is checked again."""
        self._writes.forget_entry_check(entry_id)

    def mark_entries_checked(self, entries: Sequence[tuple[str, str]], now: datetime) -> None:
        """``mark_entry_checked`` of each (entry id, folded plate), at once."""
        self._writes.mark_entries_checked(entries, now)

    def forget_entry_checks(self, entry_ids: Sequence[str]) -> None:
        """``forget_entry_check`` of each entry, at once."""
        self._writes.forget_entry_checks(entry_ids)

    # --- look-ups ----------------------------------------------------------------------

    def plate_crop(self, read_id: str) -> PlateCrop | None:
        """The stored crop of a read, if still retained. Callers that show it to a person
        must audit the access, as for reads."""
        return self._queries.plate_crop(read_id)

    def find_hit(self, hit_id: str) -> HitLocation | None:
        """Where the hit with this id is stored, if it is still retained."""
        return self._queries.find_hit(hit_id)

    def hit_category(self, disposition: HitDisposition) -> tuple[str, int] | None:
        """The category and remaining TTL of the hit a disposition names, if stored."""
        return self._queries.hit_category(disposition)

    def reads_for_plate(self, plate: str, limit: int = 100) -> list[dict[str, Any]]:
        return self._queries.reads_for_plate(plate, limit)

    def stored_reads(self, plate: str, limit: int = 1000) -> list[PlateRead]:
        """Every stored (so still retained) read of a plate, as records."""
        return self._queries.stored_reads(plate, limit)

    def stored_reads_like(self, plate: str, limit: int = 1000) -> list[PlateRead]:
        """``stored_reads`` of the plate and of every confusable spelling of it stored
        (``B``/``8``, ``O``/``0``...), each spelling's partition queried concurrently."""
        return self._queries.stored_reads_like(plate, limit)

    def entry_checked(self, entry_id: str, folded_plate: str) -> bool:
        """Whether reads were already checked for this entry with this folded plate."""
        return self._queries.entry_checked(entry_id, folded_plate)

    def entries_checked(self, entries: Sequence[tuple[str, str]]) -> list[bool]:
        """``entry_checked`` of each (entry id, folded plate), at once."""
        return self._queries.entries_checked(entries)

    def stored_reads_like_each(self, plates: Sequence[str]) -> list[list[PlateRead]]:
        """``stored_reads_like`` of each plate, all plates' partitions queried at once."""
        return self._queries.stored_reads_like_each(plates)

    def hits_for_agency(self, agency_ori: str, limit: int = 100) -> list[dict[str, Any]]:
        return self._queries.hits_for_agency(agency_ori, limit)

    def audit_events(self, day: str, limit: int = 100) -> list[dict[str, Any]]:
        """The audit trail of one UTC day (YYYY-MM-DD), newest first."""
        return self._queries.audit_events(day, limit)

    def plate_reads(self, plate: str, start: datetime, end: datetime, limit: int) -> list[ReadRow]:
        """A plate's reads, every agency's, in the window: callers scope them."""
        return self._search.plate_reads(plate, start, end, limit)

    def day_reads(
        self, agency_ori: str, day: str, start: datetime, end: datetime, limit: int
    ) -> list[ReadRow]:
        return self._search.day_reads(agency_ori, day, start, end, limit)

    def count(self, table: str) -> int:
        return self._queries.count(table)

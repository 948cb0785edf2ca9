"""The store's writes: prepared once, run concurrently, one outcome per record.

A record past its retention is refused before anything is sent. The rows of reads (a read,
its spelling and its agency-day row) and of hits (a hit and its id) go in unlogged
batches, the rows of several records in one while the batch stays under both of
Cassandra's warnings (10 partitions, 5 KiB: ``_pack``), so three reads cost one request;
a record too large for a batch alone goes a statement per row. All of a call's requests
go out in one ``execute_concurrent`` with ``raise_on_first_error=False``, the usage
counters of the records with them (``usage.py``), so a call costs one round trip at the
driver's concurrency. A record Cassandra refuses fails on its own: a batch refused for
good is sent again a record at a time, so each record gets its own outcome. One that
failed for a transient reason (Cassandra down, a timeout) raises ``StoreUnavailable`` for
the whole call, so the caller holds the batch and retries; a counter update that fails
is logged and skipped. Every write is an idempotent upsert, so writing a record again is safe,
except into the append-only audit tables (``audit_chain.py``), whose trigger refuses a
second write of a row and says whether the row it holds has the same values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cassandra.cluster import Session
from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from connectors.cassandra.retention import disposition_timestamp, write_timestamp
from connectors.cassandra.rows import (
    CROP_COLUMNS,
    DAY_COLUMNS,
    HIT_COLUMNS,
    HIT_ID_COLUMNS,
    READ_COLUMNS,
    SPELLING_COLUMNS,
    crop_row,
    day_row,
    hit_id_row,
    hit_row,
    read_row,
    spelling_row,
    utc,
)
from connectors.cassandra.session import map_exceptions, store_error
from connectors.cassandra.usage import CounterUpdate, UsageCounters
from schemas.errors import TransientError
from schemas.records import Hit, HitDisposition, PlateCrop, PlateRead, utcnow
from schemas.retention import RetentionExpired, ttl_seconds

log = logging.getLogger(__name__)

T = TypeVar("T")
# A statement (prepared, or a batch of bound ones) and its values.
Job = tuple[PreparedStatement | BatchStatement, tuple[Any, ...]]
# A job and the records (their indexes in the call) it carries: none for a counter.
Carried = tuple[Job, tuple[int, ...]]

Row = tuple[PreparedStatement, tuple[Any, ...]]

# Cassandra warns of an unlogged batch over 10 partitions
# (unlogged_batch_across_partitions_warn_threshold) or over 5 KiB (batch_size_warn_
# threshold), and refuses one over 50 KiB, where the same rows sent apart are fine. A
# batch is kept to that many rows (each row's partition counted apart, an upper bound)
# and under 4 KiB by ``_row_bytes``' estimate.
_BATCH_PARTITIONS = 10
_BATCH_BYTES = 4096
# A row's fixed-size columns (timestamps, numbers), TTL and cell headers, at most.
_ROW_FIXED_BYTES = 200
# The owner of a job that is no record's: a usage counter's update.
_COUNTER: tuple[int, ...] = ()


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one row: stored, refused (expired), or failed (with why)."""

    ok: bool
    error: str | None = None
    expired: bool = False
    already_stored: bool = False
    """Stored before, with the same values (an audit event delivered again)."""


STORED = RowOutcome(True)
ALREADY_STORED = RowOutcome(True, already_stored=True)
# What the append-only trigger (connectors/servers/templates/AppendOnly.java) says when
# the row it refuses is the one it holds, and when it holds other values.
ALREADY_HOLDS = "already holds this row, with the same values"
OTHER_VALUES = "overwrite an existing row (with other values)"


def insert_cql(ks: str, table: str, columns: Sequence[str], *, ttl: bool) -> str:
    """The INSERT of ``columns`` into ``ks.table`` (bind markers in that order, then the
    TTL's and the write timestamp's when ``ttl``)."""
    markers = ", ".join("?" for _ in columns)
    # A TTL'd row is written with the timestamp of its destruction date (retention.py).
    using = " USING TTL ? AND TIMESTAMP ?" if ttl else ""
    return f"INSERT INTO {ks}.{table} ({', '.join(columns)}) VALUES ({markers}){using}"


_HIT_WRITETIME = """SELECT WRITETIME(plate) FROM {ks}.hits_by_agency
    WHERE agency_ori = ? AND matched_at = ? AND hit_id = ?"""
_SET_DISPOSITION = """UPDATE {ks}.hits_by_agency USING TTL ? AND TIMESTAMP ? SET disposition = ?,
    disposition_by = ?, disposition_agency = ?, disposition_at = ?, disposition_note = ?
    WHERE agency_ori = ? AND matched_at = ? AND hit_id = ?"""


class Writes:
    """The writes of one keyspace, prepared on ``session`` when made."""

    def __init__(self, session: Session, ks: str, concurrency: int, usage: UsageCounters) -> None:
        self._session = session
        self._concurrency = concurrency
        self._usage = usage
        with map_exceptions("statement preparation"):
            prepare = session.prepare
            self._insert_read = prepare(insert_cql(ks, "reads_by_plate", READ_COLUMNS, ttl=True))
            self._insert_spelling = prepare(
                insert_cql(ks, "plates_by_folded_plate", SPELLING_COLUMNS, ttl=True)
            )
            self._insert_day = prepare(insert_cql(ks, "reads_by_agency_day", DAY_COLUMNS, ttl=True))
            self._insert_crop = prepare(insert_cql(ks, "plate_crops", CROP_COLUMNS, ttl=True))
            self._insert_hit = prepare(insert_cql(ks, "hits_by_agency", HIT_COLUMNS, ttl=True))
            self._insert_hit_id = prepare(insert_cql(ks, "hits_by_id", HIT_ID_COLUMNS, ttl=True))
            self._hit_matched_at = prepare(
                f"SELECT matched_at FROM {ks}.hits_by_id WHERE hit_id = ?"
            )
            self._set_disposition = prepare(_SET_DISPOSITION.replace("{ks}", ks))
            self._hit_writetime = prepare(_HIT_WRITETIME.replace("{ks}", ks))
            self._insert_check = prepare(
                insert_cql(
                    ks, "hotlist_checks", ("entry_id", "folded_plate", "checked_at"), ttl=False
                )
            )
            self._delete_check = prepare(f"DELETE FROM {ks}.hotlist_checks WHERE entry_id = ?")

    def reads(self, reads: Sequence[PlateRead], now: datetime) -> list[RowOutcome]:
        """Each read, its spelling row and its agency-day row (for searches), with one
        TTL; a read is ok when all three are."""
        insert_read, insert_spelling = self._insert_read, self._insert_spelling
        insert_day = self._insert_day

        def rows(read: PlateRead, ttl: int, stamp: int) -> tuple[Row, ...]:
            return (
                (insert_read, (*read_row(read, ttl), stamp)),
                (insert_spelling, (*spelling_row(read, ttl), stamp)),
                (insert_day, (*day_row(read, ttl), stamp)),
            )

        return self._write_retained(reads, now, _read_expiry, rows, self._usage.reads_counted)

    def crops(self, crops: Sequence[PlateCrop], now: datetime) -> list[RowOutcome]:
        """Plate crops, with the TTL of their reads (counted from collection)."""
        insert_crop = self._insert_crop

        def rows(crop: PlateCrop, ttl: int, stamp: int) -> tuple[Row, ...]:
            return ((insert_crop, (*crop_row(crop, ttl), stamp)),)

        # A crop is a JPEG of several KiB: a request each, never batched.
        return self._write_retained(crops, now, _crop_expiry, rows, batched=False)

    def hits(self, hits: Sequence[Hit], now: datetime) -> list[RowOutcome]:
        """Each hit and its id row, with the read's TTL; a hit is ok when both are. A hit
        already stored keeps the row of its first match: matched again (its worker died
        before committing, another took the read), it has the same id but a later match
        time, which would be a second row of ``hits_by_agency`` (keyed by the time)."""
        hits = self._as_first_stored(hits)
        insert_hit, insert_hit_id = self._insert_hit, self._insert_hit_id

        def rows(hit: Hit, ttl: int, stamp: int) -> tuple[Row, ...]:
            return (
                (insert_hit, (*hit_row(hit, ttl), stamp)),
                (insert_hit_id, (*hit_id_row(hit, ttl), stamp)),
            )

        return self._write_retained(hits, now, _hit_expiry, rows, self._usage.hits_counted)

    def _as_first_stored(self, hits: Sequence[Hit]) -> Sequence[Hit]:
        if not hits:
            return hits
        with map_exceptions("read"):
            found = execute_concurrent_with_args(
                self._session, self._hit_matched_at, [(hit.hit_id,) for hit in hits],
                concurrency=self._concurrency,
            )  # fmt: skip
        stored: dict[str, datetime] = {}
        for hit, (_success, rows) in zip(hits, found, strict=True):
            row = rows.one()
            if row is not None and row[0] is not None:
                stored[hit.hit_id] = utc(row[0])
        # Not stored yet, the earliest match in this call: a hit matched by the killed
        # worker and again by its successor can come twice in one batch.
        earliest: dict[str, datetime] = {}
        for hit in hits:
            if hit.hit_id not in earliest or hit.matched_at < earliest[hit.hit_id]:
                earliest[hit.hit_id] = hit.matched_at
        first = earliest | stored
        return [replace(hit, matched_at=first[hit.hit_id]) for hit in hits]

    def disposition(self, disposition: HitDisposition, ttl: int) -> None:
        """The disposition, on the hit's row, expiring with it, its timestamp just after
        the row's (retention.disposition_timestamp)."""
        key = (disposition.hit_agency_ori, disposition.matched_at, disposition.hit_id)
        now = utcnow()
        with map_exceptions("write"):
            row = self._session.execute(self._hit_writetime, key).one()
            hit_stamp = row[0] if row is not None and row[0] is not None else None
            if hit_stamp is None:  # expired meanwhile: the update expires with its TTL
                hit_stamp = write_timestamp(now + timedelta(seconds=ttl))
            stamp = disposition_timestamp(hit_stamp, disposition.matched_at, now)
            self._session.execute(
                self._set_disposition,
                (
                    ttl, stamp, disposition.disposition.value, disposition.decided_by,
                    disposition.decided_by_agency_ori, disposition.decided_at, disposition.note,
                    disposition.hit_agency_ori, disposition.matched_at, disposition.hit_id,
                ),
            )  # fmt: skip

    def mark_entry_checked(self, entry_id: str, folded_plate: str, now: datetime) -> None:
        with map_exceptions("write"):
            self._session.execute(self._insert_check, (entry_id, folded_plate, now))

    def forget_entry_check(self, entry_id: str) -> None:
        with map_exceptions("write"):
            self._session.execute(self._delete_check, (entry_id,))

    def mark_entries_checked(self, entries: Sequence[tuple[str, str]], now: datetime) -> None:
        """``mark_entry_checked`` of each (entry id, folded plate), in one round trip."""
        self._all([(self._insert_check, (entry_id, folded, now)) for entry_id, folded in entries])

    def forget_entry_checks(self, entry_ids: Sequence[str]) -> None:
        self._all([(self._delete_check, (entry_id,)) for entry_id in entry_ids])

    def _all(self, jobs: list[Job]) -> None:
        """Every job, concurrently; the first failure raises."""
        if jobs:
            with map_exceptions("write"):
                execute_concurrent(self._session, jobs, concurrency=self._concurrency)

    def _write_retained(
        self,
        records: Sequence[T],
        now: datetime,
        expiry: Callable[[T], datetime],
        rows_of: Callable[[T, int, int], tuple[Row, ...]],
        counted: Callable[[Sequence[T]], list[CounterUpdate]] | None = None,
        *,
        batched: bool = True,
    ) -> list[RowOutcome]:
        """The rows of each record still retained, with what is left of its retention as
        their TTL and its destruction date's write timestamp, in batches (``_pack``)
        unless not ``batched``, and ``counted``'s counter updates of those records; a
        record past it is refused, and nothing of it sent."""
        outcomes = [STORED] * len(records)
        rows: list[tuple[int, tuple[Row, ...]]] = []
        retained: list[T] = []
        for i, record in enumerate(records):
            expires = expiry(record)
            try:
                ttl = ttl_seconds(expires, now)
            except RetentionExpired as error:
                outcomes[i] = RowOutcome(False, str(error), expired=True)
                continue
            retained.append(record)
            rows.append((i, rows_of(record, ttl, write_timestamp(expires))))
        jobs: list[Carried] = (
            _pack(rows) if batched else [(row, (i,)) for i, own in rows for row in own]
        )
        if counted is not None and retained:
            jobs += [(update, _COUNTER) for update in counted(retained)]
        refused = self._run(jobs, outcomes)
        if refused:
            # A batch refused for good: its records again, each alone, for their outcomes.
            rows_of_record = dict(rows)
            alone = [job for i in refused for job in _pack([(i, rows_of_record[i])])]
            self._run(alone, outcomes)
        return outcomes

    def _run(self, jobs: list[Carried], outcomes: list[RowOutcome]) -> list[int]:
        """Runs the jobs concurrently, each with the records it carries (none: a counter's
        update); a record's first failed job is its outcome. A transient failure of a
        record's job raises for the whole call; a counter's is only logged. Returns the
        records of batches of several records refused for good, their outcomes untold."""
        if not jobs:
            return []
        with map_exceptions("write"):
            results = execute_concurrent(
                self._session, [job for job, _owners in jobs], concurrency=self._concurrency,
                raise_on_first_error=False,
            )  # fmt: skip
        counters_failed: list[BaseException] = []
        refused: list[int] = []
        for (_job, owners), (success, result) in zip(jobs, results, strict=True):
            if success:
                continue
            if owners == _COUNTER:
                counters_failed.append(result)
                continue
            failed = _failed(result)  # raises if transient
            if len(owners) > 1:
                refused += owners
            elif outcomes[owners[0]].ok:
                outcomes[owners[0]] = failed
        if counters_failed:
            log.warning(
                "%d usage counters not updated (the public figures run under): %s",
                len(counters_failed), counters_failed[0],
            )  # fmt: skip
        return refused


def _pack(records: Sequence[tuple[int, tuple[Row, ...]]]) -> list[Carried]:
    """Jobs of the records' rows, each with the records it carries: consecutive records'
    rows in one unlogged batch while it stays under ``_BATCH_PARTITIONS`` rows and
    ``_BATCH_BYTES`` (an outcome per record needs no batch log); a record too large for a
    batch alone, a statement per row."""
    jobs: list[Carried] = []
    batch: list[Row] = []
    owners: list[int] = []
    size = 0

    def close() -> None:
        if len(batch) == 1:
            jobs.append((batch[0], tuple(owners)))
        elif batch:
            statement = BatchStatement(BatchType.UNLOGGED)
            for prepared, values in batch:
                statement.add(prepared, values)
            jobs.append(((statement, ()), tuple(owners)))
        batch.clear()
        owners.clear()

    for i, rows in records:
        record_size = sum(_row_bytes(values) for _statement, values in rows)
        if record_size > _BATCH_BYTES or len(rows) > _BATCH_PARTITIONS:
            jobs += [(row, (i,)) for row in rows]
            continue
        if len(batch) + len(rows) > _BATCH_PARTITIONS or size + record_size > _BATCH_BYTES:
            close()
            size = 0
        batch += rows
        owners.append(i)
        size += record_size
    close()
    return jobs


def _row_bytes(row: tuple[Any, ...]) -> int:
    """A row's size in a batch, about: its fixed-size columns, and its text (4 bytes a
    character at most in UTF-8, 1 if ASCII), blobs and map keys (with 8 bytes a value)."""
    size = _ROW_FIXED_BYTES
    for value in row:
        if isinstance(value, str):
            size += len(value) if value.isascii() else 4 * len(value)
        elif isinstance(value, bytes | bytearray):
            size += len(value)
        elif isinstance(value, dict):
            size += sum(_row_bytes((key,)) - _ROW_FIXED_BYTES + 8 for key in value)
    return size


def _failed(error: BaseException) -> RowOutcome:
    mapped = store_error(error, "write")
    if isinstance(mapped, TransientError):
        raise mapped from error
    return RowOutcome(False, f"{type(error).__name__}: {error}")


def _read_expiry(read: PlateRead) -> datetime:
    return read.expires_at


def _crop_expiry(crop: PlateCrop) -> datetime:
    return crop.expires_at


def _hit_expiry(hit: Hit) -> datetime:
    return hit.read.expires_at

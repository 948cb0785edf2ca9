"""The store's own limit: a plain cassandra-driver loop writing the rows the store writes
for each read (``connectors/cassandra/writes.py`` ``Writes.reads`` and the usage counters
sent with them), on the same servers, as the writer role, into the
benchmark's keyspace. What the pipeline could store if its own code cost nothing."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from cassandra.concurrent import execute_concurrent, execute_concurrent_with_args
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from connectors.cassandra import CassandraStore
from connectors.cassandra.retention import write_timestamp
from connectors.cassandra.rows import (
    DAY_COLUMNS,
    READ_COLUMNS,
    SPELLING_COLUMNS,
    day_row,
    read_row,
    spelling_row,
)
from connectors.cassandra.writes import insert_cql
from pipelines.settings import Settings
from schemas.records import PlateRead, utcnow
from schemas.retention import ttl_seconds

# The store stage's batches are about this size (store_batch_size); the usage counters
# are tallied per batch, so the plain loop tallies them per chunk of this many too.
CHUNK = 500
# Reads a batch carries, as the store packs them (connectors/cassandra/writes.py: nine
# rows, under Cassandra's warning of ten partitions a batch).
READS_PER_BATCH = 3


def store_limit(writer: Settings, reads: Sequence[PlateRead], *, batched: bool = False) -> float:
    """Reads/s of the plain loop over ``reads`` (rows built before the clock starts): each
    row its own request, or with ``batched`` the rows of ``READS_PER_BATCH`` reads one
    unlogged batch, as the store sends them (a read's rows upserted again cost what they
    did)."""
    ks = writer.cassandra_keyspace
    concurrency = writer.cassandra_write_concurrency
    with CassandraStore(writer, create_schema=False) as store:
        session = store.session
        tables = (
            ("reads_by_plate", READ_COLUMNS, read_row),
            ("plates_by_folded_plate", SPELLING_COLUMNS, spelling_row),
            ("reads_by_agency_day", DAY_COLUMNS, day_row),
        )
        now = utcnow()
        stamps = [(ttl_seconds(r.expires_at, now), write_timestamp(r.expires_at)) for r in reads]
        statements = []
        for table, columns, row_of in tables:
            statement = session.prepare(insert_cql(ks, table, columns, ttl=True))
            rows = [(*row_of(r, ttl), stamp) for r, (ttl, stamp) in zip(reads, stamps, strict=True)]
            statements.append((statement, rows))
        add_reads = session.prepare(
            f"UPDATE {ks}.usage_reads SET reads = reads + ? WHERE agency_ori = ? AND "
            "day = ? AND camera_id = ? AND hour = ?"
        )
        counters: list[tuple[object, ...]] = []
        for i in range(0, len(reads), CHUNK):
            tally = Counter(
                (r.agency_ori, f"{r.collected_at:%Y-%m-%d}", r.camera_id, r.collected_at.hour)
                for r in reads[i : i + CHUNK]
            )
            counters.extend((n, *key) for key, n in tally.items())
        batches = (
            [_batch(statements, i) for i in range(0, len(reads), READS_PER_BATCH)]
            if batched
            else []
        )
        start = time.perf_counter()
        if batched:
            execute_concurrent(session, batches, concurrency=concurrency)
        else:
            for statement, rows in statements:
                execute_concurrent_with_args(
                    session, statement, rows, concurrency=concurrency, raise_on_first_error=True
                )
        execute_concurrent_with_args(session, add_reads, counters, concurrency=concurrency)
        elapsed = time.perf_counter() - start
    return len(reads) / elapsed


def _batch(
    statements: list[tuple[PreparedStatement, list[tuple[object, ...]]]], i: int
) -> tuple[BatchStatement, tuple[()]]:
    """The rows of ``READS_PER_BATCH`` reads from read ``i``, one of each table a read, as
    one unlogged batch."""
    batch = BatchStatement(BatchType.UNLOGGED)
    for j in range(i, min(i + READS_PER_BATCH, len(statements[0][1]))):
        for statement, rows in statements:
            batch.add(statement, rows[j])
    return batch, ()

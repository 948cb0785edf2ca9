"""Agents ``store-reads``, ``store-hits`` and ``store-audit``: one ``BatchedSink`` each,
with the write of its record kind. Reads and hits are stored with the TTL left of the
read's retention, counted from collection (``CassandraStore``)."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.cassandra import CassandraStore, RowOutcome
from connectors.prometheus import AUDIT_WRITE_FAILURES
from pipelines import metrics
from pipelines.runtime.context import Context
from pipelines.runtime.sink import BatchedSink
from pipelines.runtime.wiring import Wiring
from schemas.records import AuditEvent, Hit, PlateRead, utcnow

READS_STAGE = "store"
HITS_STAGE = "store-hits"
AUDIT_STAGE = "store-audit"


def write_reads(store: CassandraStore, reads: Sequence[PlateRead]) -> list[RowOutcome]:
    return store.write_reads(reads, utcnow())


def reads_written(reads: Sequence[PlateRead]) -> None:
    """How old each read is once stored: the pipeline's end-to-end latency."""
    metrics.observe_age(READS_STAGE, (read.collected_at for read in reads))


def write_hits(store: CassandraStore, hits: Sequence[Hit]) -> list[RowOutcome]:
    return store.write_hits(hits, utcnow())


def write_audit(store: CassandraStore, events: Sequence[AuditEvent]) -> list[RowOutcome]:
    """Chains and keeps the events; each one not kept (a failed write, or a batch held
    while Cassandra is down) counts on ``lprx_audit_write_failures_total`` (CJIS AU-5)."""
    failures = AUDIT_WRITE_FAILURES.labels("cassandra")
    try:
        outcomes = store.write_audit(events)
    except Exception:
        failures.inc(len(events))
        raise
    failures.inc(sum(1 for outcome in outcomes if not outcome.ok))
    return outcomes


def reads_sink(ctx: Context) -> BatchedSink[PlateRead]:
    """Several batches at once: a read's rows are upserts by read id, whichever batch
    (or redelivery) writes them first."""
    return BatchedSink(
        ctx, READS_STAGE, PlateRead.decode, write_reads, reads_written,
        in_flight=ctx.settings.store_batches_in_flight,
    )  # fmt: skip


def hits_sink(ctx: Context) -> BatchedSink[Hit]:
    """One batch at a time: a hit matched again keeps its first stored match time, which
    a batch written beside the one storing it would not see."""
    return BatchedSink(ctx, HITS_STAGE, Hit.decode, write_hits)


def audit_sink(ctx: Context) -> BatchedSink[AuditEvent]:
    """One batch at a time: each event is chained to the one stored before it."""
    return BatchedSink(ctx, AUDIT_STAGE, AuditEvent.decode, write_audit)


Sinks = tuple[BatchedSink[PlateRead], BatchedSink[Hit], BatchedSink[AuditEvent]]


def register(wiring: Wiring) -> Sinks:
    ctx, topics = wiring.ctx, wiring.ctx.topics
    reads, hits, audit = reads_sink(ctx), hits_sink(ctx), audit_sink(ctx)
    wiring.agent(topics.reads, "store-reads", reads.consume)
    wiring.agent(topics.hits, "store-hits", hits.consume)
    wiring.agent(topics.audit, "store-audit", audit.consume)
    return reads, hits, audit

"""Prometheus metrics of a worker, labelled by stage name, latencies in milliseconds.

Each metric means one thing (README, "Metrics"). They live in the worker's own registry
(``REGISTRY``), so a process that only imports this module (the ingest, the CLI) never
exports a worker's gauges as 0; ``serve`` exposes it with the default registry (process
metrics, and the connectors' own counters such as ``lprx_sink_delivery_failures``).

Latency of a stage per record: a per-record stage observes the time of its stage
function once per record; a batched stage (match, store*) observes its batch's time
shared out equally, once per record, and the whole batch once in
``lprx_stage_batch_ms``. Cassandra calls are timed on their own
(``lprx_store_call_ms``), never as a stage's latency.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connectors.prometheus import MS_BUCKETS
from schemas.records import utcnow

if TYPE_CHECKING:
    from connectors.kafka.lag import PartitionLag

AGE_MS_BUCKETS = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)

REGISTRY = CollectorRegistry(auto_describe=True)

RECORDS = Counter(
    "lprx_records",
    "Records handled per stage and outcome (ok, dead_letter, duplicate, expired, "
    "no_plate, no_hit, ...).",
    ["stage", "outcome"],
    registry=REGISTRY,
)
STAGE_LATENCY_MS = Histogram(
    "lprx_stage_latency_ms",
    "Time a stage spends on one record, in milliseconds (a batched stage: its batch's "
    "time shared out equally); one observation per record.",
    ["stage"],
    buckets=MS_BUCKETS,
    registry=REGISTRY,
)
STAGE_BATCH_MS = Histogram(
    "lprx_stage_batch_ms",
    "Time a batched stage (match, store*) spends on one whole batch, in milliseconds.",
    ["stage"],
    buckets=MS_BUCKETS,
    registry=REGISTRY,
)
STAGE_BATCH_RECORDS = Histogram(
    "lprx_stage_batch_records",
    "Records in one batch of a batched stage.",
    ["stage"],
    buckets=BATCH_SIZE_BUCKETS,
    registry=REGISTRY,
)
STORE_CALL_MS = Histogram(
    "lprx_store_call_ms",
    "Time of one Cassandra call of a stage (a batch write, a look-up), in milliseconds, "
    "tries that failed included.",
    ["stage"],
    buckets=MS_BUCKETS,
    registry=REGISTRY,
)
READ_AGE_MS = Histogram(
    "lprx_read_age_ms",
    "From a read's collection by the camera (camera time) to the end of the stage, in "
    "milliseconds: normalize (entered the pipeline), match (matched), store (stored), "
    "share (its hit delivered).",
    ["stage"],
    buckets=AGE_MS_BUCKETS,
    registry=REGISTRY,
)
EVENT_LOOP_LAG_MS = Histogram(
    "lprx_event_loop_lag_ms",
    "How late the worker's event loop ran a timer due every 100 ms, in milliseconds: "
    "the time any record waits behind the worker's other work (or a collection).",
    buckets=MS_BUCKETS,
    registry=REGISTRY,
)
GC_PAUSE_MS = Histogram(
    "lprx_gc_pause_ms",
    "Time of one collection by Python's garbage collector, in milliseconds, by generation "
    "(2: the whole heap): every thread of the worker waits for it.",
    ["generation"],
    buckets=MS_BUCKETS,
    registry=REGISTRY,
)
# The error classes a dead letter's reason names (their subclasses count as them).
DEAD_LETTER_REASONS = (
    "DecodeError",
    "InvalidRecord",
    "UndecodableRecord",
    "StoreRejected",
    "OcrInputError",
    "RecognizerFailed",
    "PermanentError",
)
DEAD_LETTERS = Counter(
    "lprx_dead_letters",
    "Records sent to the dead-letter topic, by stage and reason: the lprx error class "
    "(DecodeError, InvalidRecord, PermanentError, ...) or unexpected (a bug).",
    ["stage", "reason"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "lprx_retries",
    "Store calls retried after a transient outage (Cassandra unavailable), by stage.",
    ["stage"],
    registry=REGISTRY,
)
CONSUMER_HOLES = Counter(
    "lprx_consumer_holes",
    "Offsets a worker's fetch jumped over or its commits stalled on, asked of Kafka, by "
    "outcome: passed_over (no record: markers, an aborted transaction), read_again "
    "(records never processed: read again), unknown (Kafka could not tell yet).",
    ["outcome"],
    registry=REGISTRY,
)
for _outcome in ("passed_over", "read_again", "unknown"):  # series at 0, for rate()
    CONSUMER_HOLES.labels(_outcome)
HITS_DELIVERED = Counter(
    "lprx_hits_delivered",
    "Hits delivered to an agency's topic.",
    ["recipient"],
    registry=REGISTRY,
)
HOTLIST_ENTRIES = Gauge(
    "lprx_hotlist_entries", "Live hotlist entries held by this worker.", registry=REGISTRY
)
AGREEMENTS = Gauge("lprx_agreements", "Sharing agreements held by this worker.", registry=REGISTRY)
DEDUP_PASSES = Gauge(
    "lprx_dedup_passes",
    "Vehicle passes this worker remembers for dedup (its partitions).",
    registry=REGISTRY,
)
SUPPRESSED_ALERTS = Gauge(
    "lprx_hit_suppression_entries",
    "Recent alerts this worker remembers to suppress repeat hits (its partitions).",
    registry=REGISTRY,
)


def dead_letter_reason(error: BaseException) -> str:
    """The nearest of lprx's error classes the error is (a bounded set of labels), else
    ``unexpected`` (a bug; the letter itself names the class)."""
    for kind in type(error).__mro__:
        if kind.__name__ in DEAD_LETTER_REASONS:
            return kind.__name__
    return "unexpected"


def declare(stage: str) -> None:
    """The stage's retry and dead-letter series at 0 from the start, so a rate over them
    (a panel, an alert) sees the first one, rather than a series that starts at 1."""
    RETRIES.labels(stage)
    RECORDS.labels(stage, "dead_letter")
    for reason in (*DEAD_LETTER_REASONS, "unexpected"):
        DEAD_LETTERS.labels(stage, reason)


def declare_recipients(*agency_oris: str) -> None:
    for ori in agency_oris:
        HITS_DELIVERED.labels(ori)


def count(stage: str, outcome: str, n: int = 1) -> None:
    RECORDS.labels(stage, outcome).inc(n)


def dead_lettered(stage: str, error: BaseException) -> None:
    RECORDS.labels(stage, "dead_letter").inc()
    DEAD_LETTERS.labels(stage, dead_letter_reason(error)).inc()


def retried(stage: str) -> None:
    RETRIES.labels(stage).inc()


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """One record's time in ``stage``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        STAGE_LATENCY_MS.labels(stage).observe((time.perf_counter() - start) * 1000.0)


@contextmanager
def timed_batch(stage: str, records: int) -> Iterator[None]:
    """A batch's time: once whole, and shared out as each of its records' latency."""
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        STAGE_BATCH_MS.labels(stage).observe(elapsed_ms)
        STAGE_BATCH_RECORDS.labels(stage).observe(records)
        per_record = STAGE_LATENCY_MS.labels(stage)
        for _ in range(records):
            per_record.observe(elapsed_ms / max(records, 1))


@contextmanager
def timed_store_call(stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        STORE_CALL_MS.labels(stage).observe((time.perf_counter() - start) * 1000.0)


def observe_age(stage: str, collected_at: Iterable[datetime]) -> None:
    """Each read's age, camera time to now, at the end of ``stage``."""
    now = utcnow()
    age = READ_AGE_MS.labels(stage)
    for at in collected_at:
        age.observe(max((now - at).total_seconds(), 0.0) * 1000.0)


# --- state read at scrape time ------------------------------------------------------


class FollowerState(Protocol):
    """What a compacted-topic follower tells about itself (connectors/kafka/follower)."""

    topic: str
    applied: int
    rejected: int
    errors: int
    newest_record_at: float | None

    @property
    def caught_up(self) -> bool: ...

    def positions(self) -> dict[int, int]: ...


class FollowersCollector(Collector):
    """``lprx_follower_*``: whether each followed topic (hotlist, agreements) is caught
    up, the next offset applied per partition, and records applied, rejected, errors."""

    def __init__(self, followers: Callable[[], Iterable[FollowerState]]) -> None:
        self._followers = followers

    def collect(self) -> Iterator[Metric]:
        caught_up = GaugeMetricFamily(
            "lprx_follower_caught_up",
            "1 when the follower of a compacted topic has read it up to its end at start.",
            labels=["topic"],
        )
        offset = GaugeMetricFamily(
            "lprx_follower_applied_offset",
            "Offset of the next record the follower will apply, per partition.",
            labels=["topic", "partition"],
        )
        applied = CounterMetricFamily(
            "lprx_follower_applied_records", "Records applied since start.", labels=["topic"]
        )
        rejected = CounterMetricFamily(
            "lprx_follower_rejected_records",
            "Records not applied since start (no key, undecodable).",
            labels=["topic"],
        )
        errors = CounterMetricFamily(
            "lprx_follower_errors", "Kafka errors the follower saw since start.", labels=["topic"]
        )
        newest = GaugeMetricFamily(
            "lprx_follower_newest_record_timestamp_seconds",
            "Kafka timestamp of the newest record applied: when the topic last changed "
            "(a hotlist load, an agreement), as far as this worker has read.",
            labels=["topic"],
        )
        for follower in self._followers():
            topic = follower.topic
            caught_up.add_metric([topic], 1.0 if follower.caught_up else 0.0)
            for partition, position in sorted(follower.positions().items()):
                offset.add_metric([topic, str(partition)], position)
            applied.add_metric([topic], follower.applied)
            rejected.add_metric([topic], follower.rejected)
            errors.add_metric([topic], follower.errors)
            if follower.newest_record_at is not None:
                newest.add_metric([topic], follower.newest_record_at)
        yield from (caught_up, offset, applied, rejected, errors, newest)


class LagState(Protocol):
    """What ``connectors.kafka.lag.LagMonitor`` keeps of its last answer."""

    group: str
    errors: int

    @property
    def lags(self) -> Sequence[PartitionLag]: ...


class LagCollector(Collector):
    """``lprx_consumer_lag`` and its parts, per group, topic and partition, as last
    measured (every replica of a group exports the same values: take ``max by``)."""

    def __init__(self, monitor: LagState) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[Metric]:
        labels = ["group", "topic", "partition"]
        lag = GaugeMetricFamily(
            "lprx_consumer_lag",
            "Records of a partition the consumer group has not committed yet.",
            labels=labels,
        )
        committed = GaugeMetricFamily(
            "lprx_consumer_committed_offset",
            "The group's committed offset (-1: never committed).",
            labels=labels,
        )
        end = GaugeMetricFamily(
            "lprx_consumer_end_offset", "The partition's end (high watermark).", labels=labels
        )
        for part in self._monitor.lags:
            values = [part.group, part.topic, str(part.partition)]
            lag.add_metric(values, part.lag)
            committed.add_metric(values, -1 if part.committed is None else part.committed)
            end.add_metric(values, part.end)
        errors = CounterMetricFamily(
            "lprx_consumer_lag_errors",
            "Times the lag could not be measured (Kafka did not answer).",
            labels=["group"],
        )
        errors.add_metric([self._monitor.group], self._monitor.errors)
        yield from (lag, committed, end, errors)


class CertificatesCollector(Collector):
    """``lprx_tls_certificate_not_after_timestamp_seconds``: when each certificate in
    the PEM files this process trusts or presents ends (read at scrape time, so a
    renewed Secret shows at once)."""

    def __init__(self, files: Callable[[], Iterable[Path]]) -> None:
        self._files = files

    def collect(self) -> Iterator[Metric]:
        from cryptography import x509

        not_after = GaugeMetricFamily(
            "lprx_tls_certificate_not_after_timestamp_seconds",
            "End of validity of a certificate lprx is configured with (epoch seconds).",
            labels=["file", "subject"],
        )
        for path in sorted(set(self._files())):
            try:
                certificates = x509.load_pem_x509_certificates(path.read_bytes())
            except (OSError, ValueError):
                continue  # absent or not PEM: the connection itself reports that
            for certificate in certificates:
                subject = certificate.subject.rfc4514_string()
                not_after.add_metric(
                    [str(path), subject], certificate.not_valid_after_utc.timestamp()
                )
        yield not_after


_collection_started = [0.0]


def timed_collection(phase: str, info: dict[str, int]) -> None:
    """A ``gc.callbacks`` entry: the time of each collection on ``lprx_gc_pause_ms``."""
    if phase == "start":
        _collection_started[0] = time.perf_counter()
    else:
        elapsed = (time.perf_counter() - _collection_started[0]) * 1000
        GC_PAUSE_MS.labels(str(info["generation"])).observe(elapsed)


EVENT_LOOP_TICK_S = 0.1


async def watch_event_loop() -> None:
    """Times the event loop's lateness on ``lprx_event_loop_lag_ms``, for ever."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(EVENT_LOOP_TICK_S)
        late = time.perf_counter() - started - EVENT_LOOP_TICK_S
        EVENT_LOOP_LAG_MS.observe(max(0.0, late) * 1000)


def time_collections() -> None:
    """Times each collection of Python's garbage collector, once per process however
    often it is called."""
    if timed_collection not in gc.callbacks:
        gc.callbacks.append(timed_collection)

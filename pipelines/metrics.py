"""Prometheus metrics, labelled by stage name, latencies in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from connectors.prometheus import MS_BUCKETS

AGE_MS_BUCKETS = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000)

RECORDS = Counter(
    "lprx_records",
    "Records handled per stage and outcome (ok, dead_letter, duplicate, expired, "
    "no_plate, no_hit, ...).",
    ["stage", "outcome"],
)
STAGE_LATENCY_MS = Histogram(
    "lprx_stage_latency_ms",
    "Time a stage spends on one record (or one batch, for store), in milliseconds.",
    ["stage"],
    buckets=MS_BUCKETS,
)
READ_AGE_MS = Histogram(
    "lprx_read_age_ms",
    "From a read's collection by the camera to the end of the stage, in milliseconds.",
    ["stage"],
    buckets=AGE_MS_BUCKETS,
)
HITS_DELIVERED = Counter(
    "lprx_hits_delivered", "Hits delivered to an agency's topic.", ["recipient"]
)
HOTLIST_ENTRIES = Gauge("lprx_hotlist_entries", "Live hotlist entries held by this worker.")
AGREEMENTS = Gauge("lprx_agreements", "Sharing agreements held by this worker.")
DEDUP_PASSES = Gauge(
    "lprx_dedup_passes", "Vehicle passes this worker remembers for dedup (its partitions)."
)


def count(stage: str, outcome: str, n: int = 1) -> None:
    RECORDS.labels(stage, outcome).inc(n)


@contextmanager
def timed(stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        STAGE_LATENCY_MS.labels(stage).observe((time.perf_counter() - start) * 1000.0)


def observe_each(stage: str, seconds: float, records: int) -> None:
    """A batch's time, shared out as each record's latency."""
    per_record_ms = seconds * 1000.0 / max(records, 1)
    histogram = STAGE_LATENCY_MS.labels(stage)
    for _ in range(records):
        histogram.observe(per_record_ms)


def serve(port: int, addr: str = "127.0.0.1") -> None:
    start_http_server(port, addr=addr)

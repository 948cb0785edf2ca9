"""Shared Prometheus conventions: latencies in milliseconds, with these buckets."""

from __future__ import annotations

from prometheus_client import Counter

MS_BUCKETS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)

# CJIS AU-5: an audit event that could not be written (Kafka refused or timed out, or the
# store could not keep it). Alert on any increase: prometheus_client adds ``_total``.
AUDIT_WRITE_FAILURES = Counter(
    "lprx_audit_write_failures",
    "Audit events not written: where=kafka (the topic) or cassandra (the kept, chained copy).",
    ["where"],
)

"""Shared Prometheus conventions: latencies in milliseconds, with these buckets."""

from __future__ import annotations

MS_BUCKETS = (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)

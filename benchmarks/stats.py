"""Small pure helpers of the benchmarks: percentiles and a process's resident memory."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, by the nearest-rank method: the
    smallest value at least ``q`` % of the values are at or below (p99 of 300 latencies
    is the 297th smallest)."""
    if not values:
        raise ValueError("no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def rss_kib(status_text: str) -> int:
    """The resident set size (KiB) of a /proc/<pid>/status text (its ``VmRSS`` line)."""
    for line in status_text.splitlines():
        name, _, rest = line.partition(":")
        if name == "VmRSS":
            amount, _, unit = rest.strip().partition(" ")
            if unit.strip() != "kB":
                raise ValueError(f"VmRSS in {unit!r}, not kB")
            return int(amount)
    raise ValueError("no VmRSS line (a kernel thread, or a process that has exited)")


def process_rss_mib(pid: int) -> float:
    """The resident memory of process ``pid`` now, MiB (one decimal)."""
    return round(rss_kib(Path(f"/proc/{pid}/status").read_text()) / 1024, 1)

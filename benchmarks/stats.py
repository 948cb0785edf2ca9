"""Small pure helpers of the benchmarks: percentiles, a process's resident memory and
its growth, its CPU time."""

from __future__ import annotations

import math
import os
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


def process_cpu_s(pid: int) -> float:
    """The CPU time (user and system) process ``pid`` has used so far, seconds."""
    # /proc/PID/stat: fields 14 and 15 (utime, stime), in clock ticks; the command
    # name (field 2) may hold spaces, so count from its closing parenthesis.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def slope_per_100k(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (reads, MiB), in MiB per 100,000 reads."""
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return round(slope * 100_000, 2)


def rss_slopes(
    samples: list[dict[str, float]], axis: str = "reads_taken"
) -> dict[str, dict[str, float | None]]:
    """Memory growth per process against ``axis`` (reads), over the whole run and over
    its second half (after the warm-up: caches, allocator arenas and the driver's pools
    filling once, dedup's passes filling their window)."""
    names = [k for k in samples[0] if k not in (axis, "reads_stored", "seconds")]
    half = samples[-1][axis] / 2
    later = [s for s in samples if s[axis] >= half]
    return {
        "rss_slope_mib_per_100k_reads": {
            name: slope_per_100k([(s[axis], s[name]) for s in samples]) for name in names
        },
        "rss_slope_second_half_mib_per_100k_reads": {
            name: slope_per_100k([(s[axis], s[name]) for s in later]) for name in names
        },
    }

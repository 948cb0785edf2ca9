"""Hotlist index: build time, exact and fuzzy lookups per second on one core, memory.

In the same run, a naive baseline: a plain dict for exact lookups, and a per-entry
edit-distance scan for fuzzy ones (timed on a sample of lookups, as it is slow).
Prints one JSON object.

    .venv/bin/python benchmarks/hotlist.py --entries 1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import string
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.matching.index import HotlistIndex  # noqa: E402
from schemas.plates import confusable_key, within_one_edit  # noqa: E402
from schemas.records import HotlistCategory, HotlistEntry  # noqa: E402

LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_plate(rng: random.Random) -> str:
    """US-like plates: mostly 6-7 characters in the common layouts, some vanity ones."""
    shape = rng.random()
    letters = lambda k: "".join(rng.choices(LETTERS, k=k))  # noqa: E731
    digits = lambda k: "".join(rng.choices(string.digits, k=k))  # noqa: E731
    if shape < 0.45:
        return letters(3) + digits(4)  # ABC1234
    if shape < 0.70:
        return letters(3) + digits(3)  # ABC123
    if shape < 0.85:
        return digits(1) + letters(3) + digits(3)  # 1ABC234
    if shape < 0.95:
        return digits(3) + letters(2)  # 123AB
    return "".join(rng.choices(LETTERS + string.digits, k=rng.randint(2, 8)))  # vanity


def make_entries(n: int, rng: random.Random) -> list[HotlistEntry]:
    categories = list(HotlistCategory)
    return [
        HotlistEntry(
            entry_id=f"ncic:{i}",
            list_id="ncic",
            source="NCIC",
            category=categories[i % len(categories)],
            owning_agency_ori="MN9990001",
            plate=random_plate(rng),
            priority=rng.randint(0, 100),
            plate_state="MN",
        )
        for i in range(n)
    ]


def one_edit(plate: str, rng: random.Random) -> str:
    i = rng.randrange(len(plate))
    c = rng.choice(LETTERS + string.digits)
    return plate[:i] + c + plate[i + 1 :]


def rate(fn: object, queries: list[str]) -> float:
    lookup = fn  # a callable of one plate
    start = time.perf_counter()
    for q in queries:
        lookup(q)  # type: ignore[operator]
    return len(queries) / (time.perf_counter() - start)


def batch_rate(index: HotlistIndex, queries: list[str], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(queries), batch):
        index.lookup_many(queries[i : i + batch])
    return len(queries) / (time.perf_counter() - start)


def run(n: int, lookups: int, baseline_sample: int, batch: int) -> dict[str, object]:
    rng = random.Random(1)
    entries = make_entries(n, rng)
    gc.collect()
    rss_before = rss_mb()
    start = time.perf_counter()
    index = HotlistIndex(entries)
    build_s = time.perf_counter() - start
    gc.collect()
    rss_after = rss_mb()

    listed = [e.plate for e in rng.sample(entries, min(lookups, n))]
    # Real traffic: almost every read misses (hit rates run 0.03-0.5%).
    misses = [random_plate(rng) for _ in range(lookups)]
    near = [one_edit(p, rng) for p in listed]
    exact_rate = rate(index.exact, misses + listed)
    single_rate = rate(index.lookup, misses)
    single_near_rate = rate(index.lookup, near)
    fuzzy_rate = batch_rate(index, misses, batch)
    fuzzy_near_rate = batch_rate(index, near, batch)
    found_near = sum(1 for q in near[:1000] if index.lookup(q))
    found_near_batch = sum(1 for m in index.lookup_many(near[:1000]) if m)

    naive = {e.plate: e for e in entries}
    naive_exact_rate = rate(naive.get, misses + listed)
    keys = [confusable_key(e.plate) for e in entries]

    def scan(plate: str) -> list[int]:
        key = confusable_key(plate)
        return [i for i, k in enumerate(keys) if within_one_edit(k, key)]

    naive_fuzzy_rate = rate(scan, misses[:baseline_sample])
    return {
        "benchmark": "hotlist",
        "entries": n,
        "build_s": round(build_s, 2),
        "exact_lookups_per_s": round(exact_rate),
        # Batches of --batch reads, as the match stage looks them up.
        "fuzzy_lookups_per_s": round(fuzzy_rate),
        "fuzzy_lookups_per_s_near_misses": round(fuzzy_near_rate),
        # One lookup() call per read.
        "fuzzy_single_lookups_per_s": round(single_rate),
        "fuzzy_single_lookups_per_s_near_misses": round(single_near_rate),
        "near_misses_found_of_1000": found_near,
        "near_misses_found_of_1000_batched": found_near_batch,
        "rss_mb": round(rss_after, 1),
        "index_rss_mb": round(rss_after - rss_before, 1),
        "baseline": {
            "dict_exact_lookups_per_s": round(naive_exact_rate),
            "scan_fuzzy_lookups_per_s": round(naive_fuzzy_rate, 2),
            "scan_sample": baseline_sample,
        },
        "conditions": {
            "fuzzy": "edit distance 1 on confusable-folded plates, plus wildcards",
            "lookups": lookups,
            "batch": batch,
            "threads": 1,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--baseline-sample", type=int, default=20)
    parser.add_argument("--batch", type=int, default=512, help="reads per lookup_many()")
    args = parser.parse_args()
    result = run(args.entries, args.lookups, args.baseline_sample, args.batch)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""What an open vehicle pass costs a worker: memory, objects the garbage collector
tracks, and the time of a full collection with them in the heap.

Dedup keeps every pass of a camera for the window (300 s by default), long after its
read was sent: at 500 reads/s of distinct plates, about 150,000 passes. N reads of
distinct random plates are folded over 50 cameras (``stages/dedup.fold_read``), their
passes settled (each read sent, so what is left is what the window keeps), and the
reads dropped. Prints one JSON object: ``bytes_per_pass`` (tracemalloc),
``tracked_objects_per_pass`` (``gc.get_objects``), ``full_collection_ms`` (one
``gc.collect()`` of this process with the passes in it) and the same collection
before the passes were made (``full_collection_ms_without_passes``), so the passes'
share is the difference.

    .venv/bin/python benchmarks/dedup_memory.py --reads 50000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import string
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipelines.stages.dedup import CameraPasses, DedupPolicy, fold_read, settle  # noqa: E402
from schemas.records import CameraKind, PlateRead  # noqa: E402

CAMERAS = 50


def full_collection_ms() -> float:
    started = time.perf_counter()
    gc.collect()
    return round((time.perf_counter() - started) * 1000, 1)


def a_read(plate: str, camera_id: str, now: datetime) -> PlateRead:
    return PlateRead(
        read_id=str(uuid.uuid4()),
        agency_ori="MN9990001",
        camera_id=camera_id,
        camera_kind=CameraKind.FIXED,
        collected_at=now,
        received_at=now,
        plate=plate,
        confidence=90.0,
        expires_at=now + timedelta(days=60),
    )


def run(n: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    alphabet = string.ascii_uppercase + string.digits
    reads = [
        a_read("".join(rng.choices(alphabet, k=7)), f"cam-{i % CAMERAS}", now) for i in range(n)
    ]
    policy = DedupPolicy(window=timedelta(seconds=300), settle_seconds=2.0, fuzzy_min_length=5)
    cameras = [CameraPasses() for _ in range(CAMERAS)]
    without = full_collection_ms()
    objects_before = len(gc.get_objects())
    tracemalloc.start()
    memory_before = tracemalloc.get_traced_memory()[0]
    for i, read in enumerate(reads):
        fold_read(cameras[i % CAMERAS], read, 1000.0, policy)
    for camera in cameras:
        settle(camera, 1000.0 + policy.settle_seconds, policy)
    dropped = len(reads)
    del reads
    gc.collect()
    passes = sum(len(camera) for camera in cameras)
    memory = tracemalloc.get_traced_memory()[0] - memory_before
    tracemalloc.stop()
    # The reads were tracked objects counted in ``objects_before``; all are gone now.
    objects = len(gc.get_objects()) - objects_before + dropped
    return {
        "benchmark": "dedup_memory",
        "reads": n,
        "passes": passes,
        "bytes_per_pass": round(memory / passes),
        "tracked_objects_per_pass": round(objects / passes, 2),
        "full_collection_ms": full_collection_ms(),
        "full_collection_ms_without_passes": without,
        "conditions": {
            "cameras": CAMERAS,
            "window_s": policy.window.total_seconds(),
            "python": sys.version.split()[0],
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(args.reads, args.seed)))


if __name__ == "__main__":
    main()

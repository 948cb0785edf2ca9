"""End-to-end pipeline throughput on the real local Kafka and Cassandra.

Drives N reads through ingest (the Kafka producer path the HTTP ingest uses), normalise
+ dedup, hotlist match, share and store, with one worker process, and measures reads/s
from the first read produced to the last read stored. In the same run it measures a
plain confluent-kafka consume-and-produce loop over the same records as the baseline.
Prints one JSON object.

    .venv/bin/python benchmarks/pipeline.py --reads 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connectors.cassandra import CassandraStore  # noqa: E402
from connectors.hotlist.files import HotlistSource, parse_csv  # noqa: E402
from connectors.hotlist.topic import publish_entries  # noqa: E402
from connectors.kafka.agreements import publish_agreement  # noqa: E402
from connectors.kafka.topics import TopicSpec, base_config, ensure_topics, make_producer  # noqa: E402
from connectors.servers import up  # noqa: E402
from pipelines.access import Role, as_role, provision  # noqa: E402
from pipelines.runtime.passes import PassBook  # noqa: E402
from pipelines.settings import Settings, get_settings  # noqa: E402
from pipelines.stages.dedup import DedupPolicy  # noqa: E402
from schemas import SingleObjectCodec  # noqa: E402
from schemas.records import (  # noqa: E402
    CameraKind,
    HotlistCategory,
    PlateRead,
    SharingAgreement,
    new_id,
    utcnow,
)

OWNER, PARTNER = "MN9990001", "MN9990002"


def metric(port: int, name: str, **labels: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1.0
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def make_reads(n: int, hot: list[str], rng: random.Random) -> tuple[list[PlateRead], int]:
    """N reads over 50 cameras; about 1% hotlist plates and 10% repeated passes."""
    now = utcnow()
    reads: list[PlateRead] = []
    duplicates = 0
    while len(reads) < n:
        if reads and rng.random() < 0.10:
            previous = reads[rng.randrange(max(0, len(reads) - 20), len(reads))]
            plate, camera = previous.plate, previous.camera_id
            duplicates += 1
        else:
            plate = rng.choice(hot) if rng.random() < 0.01 else uuid.uuid4().hex[:7].upper()
            camera = f"cam-{rng.randrange(50)}"
        collected = now - timedelta(seconds=rng.uniform(0, 5))
        reads.append(
            PlateRead(
                read_id=new_id(), agency_ori=OWNER, camera_id=camera,
                camera_kind=CameraKind.FIXED, collected_at=collected, received_at=now,
                plate=plate, confidence=92.0, expires_at=collected + timedelta(days=60),
                region="us-mn",
            )
        )  # fmt: skip
    return reads, duplicates


def baseline(settings: Settings, source: str, n: int) -> float:
    """A plain consume-and-produce loop over the same records: reads/s."""
    from confluent_kafka import Consumer

    target = f"{settings.topic_prefix}.baseline"
    ensure_topics(settings, [TopicSpec(target, settings.topic_partitions)])
    consumer = Consumer(
        {
            **base_config(settings),
            "group.id": f"baseline-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    producer = make_producer(settings, "baseline")
    consumer.subscribe([source])
    done = 0
    start: float | None = None
    while done < n:
        for message in consumer.consume(500, timeout=1.0):
            if message.error():
                continue
            start = start or time.perf_counter()
            producer.produce(target, key=message.key(), value=message.value())
            done += 1
        producer.poll(0)
    producer.flush(30)
    elapsed = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    return n / elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(n: int, timeout: float) -> dict[str, object]:
    base = as_role(get_settings(), Role.SETUP)
    up(base)
    uid = uuid.uuid4().hex[:8]
    settings = base.model_copy(
        update={
            "topic_prefix": f"bench-{uid}",
            "cassandra_keyspace": f"bench_{uid}",
            "worker_id": f"bench-{uid}",
            "metrics_port": free_port(),  # never a worker left over from another run
        }
    )
    provision(settings)  # topics, users and ACLs, keyspace: what `lprx setup` makes
    codec = SingleObjectCodec()
    producer = make_producer(settings, "bench")
    rng = random.Random(7)
    hot = [f"HOT{i:04d}" for i in range(1000)]
    csv = "plate,state\n" + "\n".join(f"{p},MN" for p in hot)
    source = HotlistSource("bench", "NCIC", OWNER, HotlistCategory.STOLEN_VEHICLE)
    publish_entries(settings, producer, codec, parse_csv(csv, source).entries)
    publish_agreement(
        settings, producer, codec,
        SharingAgreement(f"{OWNER}->{PARTNER}", OWNER, PARTNER,
                         (HotlistCategory.STOLEN_VEHICLE,), utcnow(), "bench", "bench"),
    )  # fmt: skip
    reads, repeats = make_reads(n, hot, rng)
    encoded = [(r.camera_id.encode(), r.encode(codec)) for r in reads]
    # Passes as the worker's dedup path counts them: random plates on one camera can also
    # be one edit apart (or confusable), and then they are one pass too.
    passes = PassBook({}, codec, DedupPolicy.from_settings(settings), settings.dedup_sites)
    expected_stored = 0
    for read in reads:
        group, folded = passes.fold(read, 0, 0.0)
        passes.commit(group)
        expected_stored += not folded.duplicate

    env = {
        **os.environ,
        "LPRX_TOPIC_PREFIX": settings.topic_prefix,
        "LPRX_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
        "LPRX_WORKER_ID": settings.worker_id,
    }
    log = (settings.cache_dir / f"bench-worker-{uid}.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "worker", "--stages",
         "normalize,match,share,store", "--metrics-port", str(settings.metrics_port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip
    try:
        # Ready when the match agent has loaded the whole hotlist.
        deadline = time.monotonic() + 120
        while metric(settings.metrics_port, "lprx_hotlist_entries") < len(hot):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("worker did not become ready")
            time.sleep(0.2)
        start = time.perf_counter()
        for key, value in encoded:
            producer.produce(settings.topic("reads.raw"), key=key, value=value)
            producer.poll(0)
        producer.flush(60)
        produced_s = time.perf_counter() - start
        deadline = time.monotonic() + timeout
        stored = 0.0
        while stored < expected_stored:
            stored = metric(
                settings.metrics_port, "lprx_records_total", stage="store", outcome="ok"
            )
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}); see {log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {stored} of {expected_stored} reads stored in time")
            time.sleep(0.1)
        pipeline_s = time.perf_counter() - start
        port = settings.metrics_port
        results = {
            "hits": metric(port, "lprx_records_total", stage="match", outcome="hit"),
            "duplicates_dropped": metric(port, "lprx_records_total", stage="dedup",
                                         outcome="duplicate"),
            "dead_letters": metric(port, "lprx_records_total", outcome="dead_letter"),
        }  # fmt: skip
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            # A stop stuck behind an in-flight send (seen with Faust): its port must go.
            worker.kill()
            worker.wait(30)
        log.close()
    baseline_rate = baseline(settings, settings.topic("reads.raw"), n)
    with CassandraStore(settings, create_schema=False) as store:
        rows = store.count("reads_by_plate")
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")
    return {
        "benchmark": "pipeline",
        "reads": n,
        "repeats_generated": repeats,
        "expected_stored": expected_stored,
        "cassandra_rows": rows,
        "pipeline_reads_per_s": round(n / pipeline_s, 1),
        "pipeline_seconds": round(pipeline_s, 2),
        "produce_reads_per_s": round(n / produced_s, 1),
        "baseline_consume_produce_reads_per_s": round(baseline_rate, 1),
        **{k: int(v) for k, v in results.items()},
        "conditions": {
            "worker": "1 process, stages normalize,match,share,store",
            "partitions": settings.topic_partitions,
            "hotlist_entries": len(hot),
            "dedup_settle_seconds": settings.dedup_settle_seconds,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "servers": "local Kafka 4.1.2 KRaft + Cassandra 5.0.9, same machine",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=20000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    print(json.dumps(run(args.reads, args.timeout), indent=2))


if __name__ == "__main__":
    main()

"""Stage ``share`` alone on the real local Kafka: throughput over a backlog of hits, and
the latency of a hit from the hits topic to the partner's topic (read committed).

One worker process with stages ``share``; the owner shares stolen cars with one partner,
so each hit is two deliveries and two audit events. Throughput: N hits on the topic
before the worker starts, timed from its first shared hit to its last (its own
counter). Latency: then one hit every 50 ms, each timed from produce to its arrival on
the partner's topic as a partner reads it. Prints one JSON object.

    .venv/bin/python benchmarks/share.py --hits 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from confluent_kafka import Consumer, TopicPartition

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connectors.kafka.agreements import publish_agreement  # noqa: E402
from connectors.kafka.topics import base_config, make_producer  # noqa: E402
from connectors.servers import up  # noqa: E402
from pipelines.access import Role, as_role, provision  # noqa: E402
from pipelines.settings import Settings, get_settings  # noqa: E402
from schemas import SingleObjectCodec  # noqa: E402
from schemas.keys import hit_key  # noqa: E402
from schemas.records import (  # noqa: E402
    CameraKind,
    Hit,
    HotlistCategory,
    HotlistEntry,
    PlateRead,
    SharingAgreement,
    new_id,
    utcnow,
)

OWNER, PARTNER = "MN9990001", "MN9990002"
CODEC = SingleObjectCodec()


def a_hit(plate: str) -> Hit:
    now = utcnow()
    read = PlateRead(
        read_id=new_id(), agency_ori=OWNER, camera_id="cam-1", camera_kind=CameraKind.FIXED,
        collected_at=now, received_at=now, plate=plate, confidence=92.0,
        expires_at=now + timedelta(days=60), region="us-mn",
    )  # fmt: skip
    entry = HotlistEntry(
        entry_id=f"stolen:MN:{plate}", list_id="stolen", source="NCIC",
        category=HotlistCategory.STOLEN_VEHICLE, owning_agency_ori=OWNER, plate=plate,
        plate_state="MN",
    )  # fmt: skip
    return Hit(hit_id=new_id(), matched_at=now, read=read, entry=entry)


def shared(port: int) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return 0.0
    wanted = ('stage="share"', 'outcome="ok"')
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("lprx_records_total{") and all(w in line for w in wanted)
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def partner_reader(settings: Settings) -> Consumer:
    """Reads the partner's topic from its end now, as a partner reads it."""
    topic = settings.partner_hits_topic(PARTNER)
    consumer = Consumer(
        {
            **base_config(settings),
            "group.id": f"bench-partner-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    starts = []
    for p in range(settings.topic_partitions):
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), 10, False)
        starts.append(TopicPartition(topic, p, high))
    consumer.assign(starts)
    return consumer


def drop_keyspace(settings: Settings) -> None:
    from connectors.cassandra import CassandraStore

    with CassandraStore(settings, create_schema=False) as store:
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}")


def run(n: int, latency_hits: int) -> dict[str, object]:
    uid = uuid.uuid4().hex[:8]
    base = as_role(get_settings(), Role.SETUP)
    up(base)
    settings = base.model_copy(
        update={
            "topic_prefix": f"bench-{uid}",
            "cassandra_keyspace": f"bench_{uid}",
            "worker_id": f"bench-{uid}",
        }
    )
    provision(settings)  # topics, users and ACLs, keyspace: what `lprx setup` makes
    producer = make_producer(settings, "bench-share")
    publish_agreement(
        settings, producer, CODEC,
        SharingAgreement(f"{OWNER}->{PARTNER}", OWNER, PARTNER,
                         (HotlistCategory.STOLEN_VEHICLE,), utcnow() - timedelta(days=1),
                         "bench", "bench"),
    )  # fmt: skip
    for i in range(n):
        hit = a_hit(f"B{i:06d}")
        producer.produce(settings.topic("hits"), key=hit_key(hit), value=hit.encode(CODEC))
        producer.poll(0)
    producer.flush(60)
    port = free_port()
    env = {
        **os.environ,
        "LPRX_TOPIC_PREFIX": settings.topic_prefix,
        "LPRX_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
        "LPRX_WORKER_ID": settings.worker_id,
    }
    log = (settings.cache_dir / f"bench-share-{uid}.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "worker", "--stages", "share",
         "--metrics-port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while (done := shared(port)) <= 0:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"the worker did not start sharing; see {log.name}")
            time.sleep(0.01)
        first, first_done = time.perf_counter(), done
        while (done := shared(port)) < n:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"only {done} of {n} hits shared; see {log.name}")
            time.sleep(0.01)
        backlog_s = time.perf_counter() - first
        rate = (n - first_done) / backlog_s

        reader = partner_reader(settings)
        reader.consume(10, timeout=1.0)  # fetching started
        sent: dict[str, float] = {}
        arrived: dict[str, float] = {}
        for i in range(latency_hits):
            hit = a_hit(f"L{i:06d}")
            producer.produce(settings.topic("hits"), key=hit_key(hit), value=hit.encode(CODEC))
            producer.flush(10)
            sent[hit.hit_id] = time.perf_counter()
            until = time.perf_counter() + 0.05
            while time.perf_counter() < until:
                for message in reader.consume(100, timeout=0.01):
                    if message.error() is None and (value := message.value()) is not None:
                        arrived[Hit.decode(CODEC, value).hit_id] = time.perf_counter()
        deadline = time.monotonic() + 30
        while len(arrived) < len(sent) and time.monotonic() < deadline:
            for message in reader.consume(100, timeout=0.1):
                if message.error() is None and (value := message.value()) is not None:
                    arrived[Hit.decode(CODEC, value).hit_id] = time.perf_counter()
        reader.close()
        latencies = sorted((arrived[h] - sent[h]) * 1000 for h in sent if h in arrived)
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(30)
        log.close()
        drop_keyspace(settings)
    return {
        "benchmark": "share",
        "backlog_hits": n,
        "share_hits_per_s": round(rate, 1),
        "backlog_seconds": round(backlog_s, 2),
        "latency_hits": latency_hits,
        "latency_arrived": len(latencies),
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "latency_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1)
        if latencies
        else None,
        "latency_ms_max": round(latencies[-1], 1) if latencies else None,
        "conditions": {
            "worker": "1 process, stage share; 2 deliveries + 2 audit events per hit",
            "partitions": settings.topic_partitions,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hits", type=int, default=20000)
    parser.add_argument("--latency-hits", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(run(args.hits, args.latency_hits), indent=2))


if __name__ == "__main__":
    main()

"""The store stage alone against the store's own limit, on the real local servers.

N distinct reads are produced to the ``reads`` topic (as dedup sends them, keyed as it
keys them) before a worker running only stage ``store`` starts, so the worker drains a
backlog: ``store_sink_reads_per_s`` counts from its first read stored to its last. Then,
with the worker stopped, ``store_limit_reads_per_s`` (``store_limit.py``): a plain driver
loop writing the same rows, each its own request, and ``store_limit_batched_reads_per_s``,
each read's rows one unlogged batch, as the store sends them. Prints one JSON object
with their ratios, the worker's CPU time, and the load average at start and end.

    .venv/bin/python benchmarks/store_sink.py --reads 20000

``LPRX_STORE_BATCHES_IN_FLIGHT`` and the other store settings are read from the
environment, as a worker reads them. The keyspace is dropped at the end; the topics
(prefix ``bench-<id>``) keep the retention ``lprx setup`` gives every topic.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.pipeline import make_reads, metric, run_names, start_process, stop, wait_until  # noqa: E402
from benchmarks.stats import process_cpu_s  # noqa: E402
from benchmarks.store_limit import store_limit  # noqa: E402
from connectors.cassandra import CassandraStore  # noqa: E402
from connectors.kafka.topics import make_producer  # noqa: E402
from connectors.servers import up  # noqa: E402
from pipelines.access import Role, as_role, provision  # noqa: E402
from pipelines.settings import get_settings  # noqa: E402
from schemas import SingleObjectCodec  # noqa: E402
from schemas.keys import read_key  # noqa: E402


def run(n: int, timeout: float) -> dict[str, object]:
    plain = get_settings()
    base = as_role(plain, Role.SETUP)
    up(base)
    uid = uuid.uuid4().hex[:8]
    names = run_names(uid)
    settings = base.model_copy(update=names)
    provision(settings)
    writer = as_role(plain.model_copy(update=names), Role.WORKER)
    codec = SingleObjectCodec()
    reads, _ = make_reads(n, ["HOT0001"], random.Random(7))
    producer = make_producer(settings, "bench")
    for read in reads:
        producer.produce(settings.topic("reads"), key=read_key(read), value=read.encode(codec))
        producer.poll(0)
    producer.flush(60)
    env = {
        **os.environ,
        "LPRX_TOPIC_PREFIX": settings.topic_prefix,
        "LPRX_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
        "LPRX_WORKER_ID": settings.worker_id,
    }
    port = settings.metrics_port
    log = settings.cache_dir / f"bench-store-worker-{uid}.log"
    worker = start_process(["worker", "--stages", "store", "--metrics-port", str(port)], env, log)
    stored = partial(metric, port, "lprx_records_total", stage="store", outcome="ok")
    try:
        wait_until(lambda: stored() > 0, [worker], "the first read stored", timeout)
        first_count, first = stored(), time.perf_counter()
        wait_until(lambda: stored() >= n, [worker], f"{n} reads stored", timeout)
        sink_s = time.perf_counter() - first
        cpu_s = process_cpu_s(worker.pid)
        retries = metric(port, "lprx_retries_total", stage="store")
    finally:
        stop(worker)
    with CassandraStore(settings, create_schema=False) as store:
        rows = store.count("reads_by_plate")
    limit = store_limit(writer, reads)
    batched = store_limit(writer, reads, batched=True)
    with CassandraStore(settings, create_schema=False) as store:
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}", timeout=180)
    sink_rate = (n - first_count) / sink_s
    return {
        "benchmark": "store_sink",
        "reads": n,
        "rows_stored": rows,
        "store_sink_reads_per_s": round(sink_rate, 1),
        "store_limit_reads_per_s": round(limit, 1),
        "store_sink_to_store_limit": round(sink_rate / limit, 3),
        "store_limit_batched_reads_per_s": round(batched, 1),
        "store_sink_to_store_limit_batched": round(sink_rate / batched, 3),
        "worker_cpu_s": cpu_s,
        "store_retries": int(retries),
        "conditions": {
            "worker": "1 process, stage store; the reads produced before it starts",
            "partitions": settings.topic_partitions,
            "store_batch_size": settings.store_batch_size,
            # None: code from before the setting (one batch at a time).
            "store_batches_in_flight": getattr(plain, "store_batches_in_flight", None),
            "cassandra_write_concurrency": writer.cassandra_write_concurrency,
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=20000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    load = round(os.getloadavg()[0], 2)
    result = run(args.reads, args.timeout)
    conditions = result["conditions"]
    assert isinstance(conditions, dict)
    conditions["load_average_1m_at_start"] = load
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

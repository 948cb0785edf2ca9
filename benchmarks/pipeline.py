"""End-to-end pipeline throughput and hit latency on the real local Kafka and Cassandra.

Two worker processes, as the chart deploys them (stages normalize, match, share; and
store), or with ``--one-process`` one of all four, and one HTTP ingest process,
secured as deployed. Measured in one run, printed as one JSON object:

- ``pipeline_reads_per_s``: N reads produced to ``reads.raw`` (the Kafka path the ingest
  uses), from the first produced to the last stored;
- ``hit_latency_p50_ms`` / ``_p99_ms``: reads posted at a steady ``--rate`` over HTTP
  (batched ``POST /v1/reads``, one credential per camera), about 2% hotlisted plates
  shared with a partner; each hit timed from its camera's post to the record read from
  the partner's topic by a partner consumer (its own principal, read_committed), from
  each camera's second post (``latency_first_post_p50_ms`` / ``_max_ms``: the first
  ones, posted before the clock starts, each camera's token checked for the first time
  by this ingest process);
- ``ingest_reads_per_s``: batched posts (500 reads, 4 at once) with the pipeline running;
- ``store_limit_reads_per_s`` (``store_limit.py``): a plain driver loop writing the rows
  the store writes, as the writer role, once the worker has stopped, each row its own
  request; ``store_limit_batched_reads_per_s``: the same loop sending three reads' rows
  as one unlogged batch, as the store does;
- ``baseline_consume_produce_reads_per_s``: a plain confluent-kafka consume-produce loop;
- ``worker_hotlist_loaded_s`` / ``worker_historical_checked_s``: from the worker's
  start to its whole hotlist loaded, and to every entry checked against the stored
  reads (the historical agent; the throughput phase starts after it);
- ``worker_cpu_s``: each worker's CPU time (user and system) at the start and the end
  of the throughput phase and at the end of the run;
- ``throughput_timeline`` (without ``--rss-every``): every look for the last stored
  read, half a second apart: seconds since the first read was produced, and the reads
  normalised, sent by dedup and stored by then, so a run shows whether the stages
  overlap or take their turns;
- ``worker_gc_pauses``: the (first) worker's garbage collections by generation, at the
  end: how many, their time in all, and how many took over 100 ms;
- ``rss_mib``: the worker's and the ingest's resident memory at each phase's end;
  with ``--rss-every N`` also ``rss_samples`` (every N reads the worker takes in, in
  the throughput phase) and ``rss_slope_mib_per_100k_reads`` (least squares against
  reads taken in, whole phase and its second half), so a long run shows whether a
  worker's memory stays flat:

    .venv/bin/python benchmarks/pipeline.py --reads 1000000 --rss-every 50000 \
        --camera-span 20000 --timeout 7200 --latency-seconds 10 --ingest-reads 0

  (``--camera-span``: the reads spread over that much camera time, so passes close as
  they do in service; by default they all fall in the last 5 s, so every camera's passes
  stay open for the whole run and dedup's state, and each fold's scan, grow with it.)

    .venv/bin/python benchmarks/pipeline.py --reads 10000 --rate 500 --latency-seconds 30

Everything it writes goes with the run: the keyspace is dropped at the end, the camera
credentials file removed; its topics (prefix ``bench-<id>``) keep the retention
``lprx setup`` gives every topic.
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.hit_latency import PartnerWatch, add_cameras, body, ingest_burst, steady_hits  # noqa: E402
from benchmarks.stats import process_cpu_s, process_rss_mib, rss_slopes  # noqa: E402
from benchmarks.store_limit import store_limit  # noqa: E402
from connectors.cassandra import CassandraStore  # noqa: E402
from connectors.hotlist.files import HotlistSource, parse_csv  # noqa: E402
from connectors.hotlist.topic import publish_entries  # noqa: E402
from connectors.kafka.agreements import publish_agreement  # noqa: E402
from connectors.kafka.topics import TopicSpec, base_config, ensure_topics, make_producer  # noqa: E402
from connectors.servers import up  # noqa: E402
from pipelines.access import Role, add_partner, as_partner, as_role, provision  # noqa: E402
from pipelines.runtime.passes import PassBook  # noqa: E402
from pipelines.settings import Settings, get_settings  # noqa: E402
from pipelines.stages.dedup import DedupPolicy  # noqa: E402
from schemas import SingleObjectCodec  # noqa: E402
from schemas.errors import StoreUnavailable  # noqa: E402
from schemas.records import (  # noqa: E402
    CameraKind,
    HotlistCategory,
    PlateRead,
    SharingAgreement,
    new_id,
    utcnow,
)

OWNER, PARTNER = "MN9990001", "MN9990002"
ALL_STAGES = "normalize,match,share,store"


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


def stage_counts(port: int, stages: tuple[str, ...]) -> dict[str, float]:
    """``lprx_records_total{outcome="ok"}`` of each of ``stages``, from one scrape (-1 each
    if the worker does not answer)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return dict.fromkeys(stages, -1.0)
    counts = dict.fromkeys(stages, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            stage = sample.labels.get("stage", "")
            ok = sample.labels.get("outcome") == "ok"
            if sample.name == "lprx_records_total" and ok and stage in counts:
                counts[stage] += sample.value
    return counts


def histogram(port: int, family_name: str, label: str | None = None) -> dict[str, dict[str, float]]:
    """A millisecond histogram of the worker's so far, by ``label`` (or one entry, "all"):
    how many observations, their sum, and how many were over 100 ms."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != family_name:
            continue
        for sample in family.samples:
            entry = found.setdefault(sample.labels[label] if label else "all", {})
            if sample.name.endswith("_count"):
                entry["count"] = sample.value
            elif sample.name.endswith("_sum"):
                entry["total_ms"] = round(sample.value, 1)
            elif sample.name.endswith("_bucket") and sample.labels.get("le") == "100.0":
                entry["at_most_100_ms"] = sample.value
    for entry in found.values():
        entry["over_100_ms"] = entry.get("count", 0) - entry.pop("at_most_100_ms", 0)
    return found


def gc_pauses(port: int) -> dict[str, dict[str, float]]:
    """The worker's garbage collections so far, by generation: how many, their time in
    all, and how many took over 100 ms (``lprx_gc_pause_ms``)."""
    return histogram(port, "lprx_gc_pause_ms", "generation")


def between(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """A ``histogram`` entry over one phase: its observations, their sum, and those over
    100 ms, from ``before`` to ``after``."""
    return {key: round(after.get(key, 0) - before.get(key, 0), 1) for key in after}


def make_reads(n: int, hot: list[str], rng: random.Random,
               span_s: float = 0.0) -> tuple[list[PlateRead], int]:  # fmt: skip
    """N reads over 50 cameras; about 1% hotlist plates and 10% repeated passes. Camera
    time: the last 5 s, or, with ``span_s``, spread evenly over the last ``span_s``
    seconds (a camera's passes then close as its window moves on, as in service)."""
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
        ago = span_s * (1 - len(reads) / n) + rng.uniform(0, 5)
        collected = now - timedelta(seconds=ago)
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


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipelines.cli", *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        # A stop stuck behind an in-flight send (seen with Faust): its port must go.
        process.kill()
        process.wait(30)


def wait_until(ready: Callable[[], bool], processes: list[subprocess.Popen[bytes]], what: str,
               timeout: float = 120, every: float = 0.2) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise RuntimeError(f"{what}: not in time, or a process exited (see its log)")
        time.sleep(every)


def healthy(url: str, path: str = "/healthz") -> bool:
    try:
        return httpx.get(f"{url}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def rss(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    return {name: process_rss_mib(p.pid) for name, p in processes.items()}


def sample_rss(processes: dict[str, subprocess.Popen[bytes]], taken: Callable[[], float],
               stored: Callable[[], float], want: int, every: int,
               timeout: float) -> list[dict[str, float]]:  # fmt: skip
    """Waits for ``want`` reads stored, noting each process's resident memory at the
    start, whenever the worker has taken in (normalised) another ``every`` reads, and
    at the end: memory against reads taken in, since the store may lag behind them."""
    start = time.perf_counter()
    samples: list[dict[str, float]] = []
    mark = 0.0
    while True:
        done, kept = taken(), stored()
        if done >= mark or kept >= want:
            elapsed = round(time.perf_counter() - start, 1)
            samples.append({"reads_taken": done, "reads_stored": kept, "seconds": elapsed,
                            **rss(processes)})  # fmt: skip
            mark = (done // every + 1) * every
        if kept >= want:
            return samples
        if time.perf_counter() - start > timeout or any(p.poll() is not None
                                                        for p in processes.values()):  # fmt: skip
            raise RuntimeError(f"{want} reads stored: not in time, or a process exited")
        time.sleep(0.5)


def run_names(uid: str, **extra: object) -> dict[str, object]:
    """Names of run ``uid`` only: its topics, keyspace, worker id and metrics port (never
    a worker left over from another run)."""
    return {
        "topic_prefix": f"bench-{uid}",
        "cassandra_keyspace": f"bench_{uid}",
        "worker_id": f"bench-{uid}",
        "metrics_port": free_port(),
        **extra,
    }


def cpu_s(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """Each process's CPU time (user and system) so far, seconds: workers and ingest."""
    return {name: process_cpu_s(p.pid) for name, p in processes.items()}


def profile_worker(profile: tuple[str, Path], pid: int, seconds: float) -> None:
    """py-spy on the worker, the thread holding the GIL, raw stacks, in the background."""
    py_spy, out = profile
    subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
         "--format", "raw", "--output", str(out), "--nonblocking", "--gil"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run(n: int, timeout: float, rate: float, latency_seconds: float, ingest_reads: int,
        profile: tuple[str, Path] | None = None, profile_phase: str = "throughput",
        rss_every: int = 0, camera_span_s: float = 0.0,
        store_apart: bool = False, limit_reads: int = 0) -> dict[str, object]:  # fmt: skip
    plain = get_settings()
    base = as_role(plain, Role.SETUP)
    up(base)
    uid = uuid.uuid4().hex[:8]
    names = run_names(uid, ingest_port=free_port())
    settings = base.model_copy(update=names)
    provision(settings)  # topics, users and ACLs, keyspace: what `lprx setup` makes
    add_partner(settings, PARTNER)  # the partner's own Kafka user, for its hit topic
    partner = as_partner(plain.model_copy(update=names), PARTNER)
    writer = as_role(plain.model_copy(update=names), Role.WORKER)
    codec = SingleObjectCodec()
    producer = make_producer(settings, "bench")
    rng = random.Random(7)
    hot = [f"HOT{i:04d}" for i in range(1000)]
    # Plates of the latency phase: each posted once (a second hit of a plate would be a
    # suppressed repeat), about 2% of its reads; and one to warm the partner's path up.
    latency_hot = [f"LAT{i:05d}" for i in range(max(50, int(rate * latency_seconds * 0.02)))]
    warm_up = "WRM0001"
    listed = [*hot, *latency_hot, warm_up]
    csv = "plate,state\n" + "\n".join(f"{p},MN" for p in listed)
    source = HotlistSource("bench", "NCIC", OWNER, HotlistCategory.STOLEN_VEHICLE)
    publish_entries(settings, producer, codec, parse_csv(csv, source).entries)
    publish_agreement(
        settings, producer, codec,
        SharingAgreement(f"{OWNER}->{PARTNER}", OWNER, PARTNER,
                         (HotlistCategory.STOLEN_VEHICLE,), utcnow(), "bench", "bench"),
    )  # fmt: skip
    reads, repeats = make_reads(n, hot, rng, camera_span_s)
    encoded = [(r.camera_id.encode(), r.encode(codec)) for r in reads]
    # Passes as the worker's dedup path counts them: random plates on one camera can also
    # be one edit apart (or confusable), and then they are one pass too.
    passes = PassBook({}, codec, DedupPolicy.from_settings(settings), settings.dedup_sites)
    expected_stored = 0
    for read in reads:
        group, folded = passes.fold(read, 0, 0.0)
        passes.commit(group)
        expected_stored += not folded.duplicate

    # The cameras' tokens: a file of argon2id hashes of this run only, removed at its end.
    cameras_file = settings.secrets_dir / f"bench-cameras-{uid}.json"
    tokens = add_cameras(cameras_file, OWNER, f"bench-cam-{uid}")
    env = {
        **os.environ,
        "LPRX_TOPIC_PREFIX": settings.topic_prefix,
        "LPRX_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
        "LPRX_WORKER_ID": settings.worker_id,
        "LPRX_INGEST_PORT": str(settings.ingest_port),
        "LPRX_INGEST_CREDENTIALS_FILE": str(cameras_file),
    }
    port = settings.metrics_port
    # The store's own process (``store_apart``) serves its metrics on another port.
    store_port = free_port() if store_apart else port
    url = f"http://127.0.0.1:{settings.ingest_port}"
    logs = settings.cache_dir
    started = time.perf_counter()
    worker = start_process(
        ["worker", "--stages", "normalize,match,share" if store_apart else ALL_STAGES,
         "--metrics-port", str(port)],
        env, logs / f"bench-worker-{uid}.log",
    )  # fmt: skip
    ingest = start_process(["ingest"], env, logs / f"bench-ingest-{uid}.log")
    processes = {"worker": worker, "ingest": ingest}
    if store_apart:
        processes["store_worker"] = start_process(
            ["worker", "--stages", "store", "--metrics-port", str(store_port)],
            env, logs / f"bench-store-worker-{uid}.log",
        )  # fmt: skip
    workers = [p for name, p in processes.items() if name != "ingest"]
    memory: dict[str, dict[str, float]] = {}
    try:
        # Ready when the match agent has loaded the whole hotlist.
        wait_until(lambda: metric(port, "lprx_hotlist_entries") >= len(listed),
                   workers, "the worker's hotlist")  # fmt: skip
        hotlist_s = time.perf_counter() - started
        # And when the historical agent has checked every entry against the (empty)
        # store: before the throughput phase, so that phase is the same for every run.
        checked = partial(metric, port, "lprx_records_total", stage="historical", outcome="ok")
        wait_until(lambda: checked() >= len(listed), workers, "the historical check")
        historical_s = time.perf_counter() - started
        wait_until(lambda: healthy(url), [ingest], "the ingest")
        if store_apart:
            wait_until(lambda: healthy(f"http://127.0.0.1:{store_port}", "/readyz"), workers,
                       "the store worker")  # fmt: skip
        memory["start"] = rss(processes)
        cpu = {"at_start": cpu_s(processes)}
        if profile and profile_phase == "throughput":
            profile_worker(profile, worker.pid, 30)
        start = time.perf_counter()
        raw_topic = settings.topic("reads.raw")
        for key, value in encoded:
            while True:
                try:
                    producer.produce(raw_topic, key=key, value=value)
                    break
                except BufferError:  # the local queue is full (a long run): let it drain
                    producer.poll(0.1)
            producer.poll(0)
        producer.flush(60)
        produced_s = time.perf_counter() - start
        stored_now = partial(metric, store_port, "lprx_records_total", stage="store",
                             outcome="ok")  # fmt: skip
        timeline: list[list[float]] = []
        if rss_every:
            taken = partial(metric, port, "lprx_records_total", stage="normalize", outcome="ok")
            samples = sample_rss(processes, taken, stored_now, expected_stored, rss_every,
                                 timeout)  # fmt: skip
        else:
            # Each look is a scrape of the worker's metrics, which costs it the GIL for a
            # few ms: twice a second, not five times (the end is known to 0.5 s). Each
            # look is kept: when each stage had done how much (do they overlap?).
            def look() -> bool:
                counts = stage_counts(port, ("normalize", "dedup", "store"))
                if store_apart:
                    counts["store"] = stored_now()
                timeline.append([round(time.perf_counter() - start, 2), *counts.values()])
                return counts["store"] >= expected_stored

            wait_until(look, workers, f"{expected_stored} reads stored", timeout, every=0.5)
        pipeline_s = time.perf_counter() - start
        counted = {
            "hits": metric(port, "lprx_records_total", stage="match", outcome="hit"),
            "duplicates_dropped": metric(port, "lprx_records_total", stage="dedup",
                                         outcome="duplicate"),
        }  # fmt: skip
        memory["after_throughput"] = rss(processes)
        cpu["after_throughput"] = cpu_s(processes)
        with PartnerWatch(partner, PARTNER) as watch:
            camera, token = next(iter(tokens.items()))
            httpx.post(f"{url}/v1/reads", json=[body(warm_up, camera, datetime.now(UTC))],
                       headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
            wait_until(lambda: warm_up in watch.arrived, [*workers, ingest], "the warm-up hit")
            lag_before = histogram(port, "lprx_event_loop_lag_ms").get("all", {})
            gc_before = gc_pauses(port)
            cpu["before_latency"] = cpu_s(processes)
            if profile and profile_phase == "latency":
                profile_worker(profile, worker.pid, min(30.0, latency_seconds))
            latency = steady_hits(url, tokens, watch, latency_hot, rate, latency_seconds, rng)
            lag_after = histogram(port, "lprx_event_loop_lag_ms").get("all", {})
            latency["latency_worker_event_loop_lag"] = between(lag_before, lag_after)
            latency["latency_worker_gc_pauses"] = {
                generation: between(gc_before.get(generation, {}), counts)
                for generation, counts in gc_pauses(port).items()
            }
        memory["after_latency"] = rss(processes)
        cpu["after_latency"] = cpu_s(processes)
        burst = ingest_burst(url, tokens, ingest_reads) if ingest_reads else {}
        memory["end"] = rss(processes)
        cpu["end"] = cpu_s(processes)
        collections = gc_pauses(port)
        dead_letters = sum(metric(p, "lprx_records_total", outcome="dead_letter")
                           for p in {port, store_port})  # fmt: skip
    finally:
        for process in processes.values():
            stop(process)
        cameras_file.unlink(missing_ok=True)
    with CassandraStore(settings, create_schema=False) as store:
        try:
            rows: int | None = store.count("reads_by_plate")
        except StoreUnavailable as error:  # a full scan of a long run's table can fail
            print(f"rows not counted: {error}", file=sys.stderr)
            rows = None
    # The store's limit over the first ``limit_reads`` reads (0: all of them).
    sample = reads[:limit_reads] if limit_reads else reads
    store_rate = store_limit(writer, sample)
    batched_rate = store_limit(writer, sample, batched=True)
    baseline_rate = baseline(settings, settings.topic("reads.raw"), n)
    with CassandraStore(settings, create_schema=False) as store:
        # A keyspace's drop snapshots and flushes its tables: longer than a request's
        # default timeout on a busy box.
        store.session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}", timeout=180)
    pipeline_rate = n / pipeline_s
    return {
        "benchmark": "pipeline",
        "reads": n,
        "repeats_generated": repeats,
        "expected_stored": expected_stored,
        "cassandra_rows_after_all_phases": rows,
        "pipeline_reads_per_s": round(pipeline_rate, 1),
        "pipeline_seconds": round(pipeline_s, 2),
        "produce_reads_per_s": round(n / produced_s, 1),
        "store_limit_reads_per_s": round(store_rate, 1),
        "pipeline_to_store_limit": round(pipeline_rate / store_rate, 3),
        "store_limit_batched_reads_per_s": round(batched_rate, 1),
        "pipeline_to_store_limit_batched": round(pipeline_rate / batched_rate, 3),
        "worker_hotlist_loaded_s": round(hotlist_s, 2),
        "worker_historical_checked_s": round(historical_s, 2),
        "baseline_consume_produce_reads_per_s": round(baseline_rate, 1),
        **{k: int(v) for k, v in counted.items()},
        "dead_letters": int(dead_letters),
        **latency,
        **burst,
        "worker_gc_pauses": collections,
        "rss_mib": memory,
        "worker_cpu_s": cpu,
        **({"rss_samples": samples, **rss_slopes(samples)} if rss_every else {}),
        # [seconds since the first read produced, normalised, sent by dedup, stored]
        **({"throughput_timeline": timeline} if timeline else {}),
        "conditions": {
            "worker": "2 processes, stages normalize,match,share and store"
            if store_apart
            else f"1 process, stages {ALL_STAGES}",
            "ingest": "1 process",
            "partitions": settings.topic_partitions,
            "hotlist_entries": len(listed),
            "camera_time_span_s": camera_span_s or 5,
            "latency_rate_reads_per_s": rate,
            "latency_seconds": latency_seconds,
            "latency_cameras": len(tokens),
            "dedup_settle_seconds": settings.dedup_settle_seconds,
            "store_limit": "execute_concurrent_with_args, 3 tables + usage counters, "
            f"concurrency {writer.cassandra_write_concurrency}, writer role, "
            f"{len(sample)} reads",
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "servers": "local Kafka 4.1.2 KRaft + Cassandra 5.0.9, same machine",
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=10000, help="reads of the throughput phase")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--rate", type=float, default=500, help="reads/s of the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=30)
    parser.add_argument("--ingest-reads", type=int, default=20000,
                        help="reads of the ingest phase (0: skip it)")  # fmt: skip
    parser.add_argument("--rss-every", type=int, default=0,
                        help="sample each process's resident memory every N reads "
                        "stored (throughput phase), and the slope; 0: start and end")  # fmt: skip
    parser.add_argument("--camera-span", type=float, default=0.0,
                        help="camera time the reads span, seconds (default: the last 5 s; "
                        "reads/50 gives each camera a read a second)")  # fmt: skip
    parser.add_argument("--store-limit-reads", type=int, default=0,
                        help="the store's limit measured over this many of the reads "
                        "(0: all)")  # fmt: skip
    parser.add_argument("--one-process", action="store_true",
                        help="every stage in one worker process (the default runs the store "
                        "in a process of its own, as the chart deploys it)")  # fmt: skip
    parser.add_argument("--py-spy", help="py-spy binary: profile the worker (raw stacks)")
    parser.add_argument("--profile-out", type=Path, default=Path("/tmp/bench-worker.stacks"))
    parser.add_argument(
        "--profile-phase",
        choices=("throughput", "latency"),
        default="throughput",
        help="the phase py-spy samples (30 s, or the latency phase if shorter)",
    )
    args = parser.parse_args()
    load = round(os.getloadavg()[0], 2)
    profile = (args.py_spy, args.profile_out) if args.py_spy else None
    result = run(
        args.reads,
        args.timeout,
        args.rate,
        args.latency_seconds,
        args.ingest_reads,
        profile,
        args.profile_phase,
        args.rss_every,
        args.camera_span,
        not args.one_process,
        args.store_limit_reads,
    )
    conditions = result["conditions"]
    assert isinstance(conditions, dict)
    conditions["load_average_1m_at_start"] = load
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

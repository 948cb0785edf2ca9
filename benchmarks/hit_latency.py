"""The pipeline's second phase: reads posted over HTTP to the ingest, as cameras do.

``steady_hits``: a steady rate of batched ``POST /v1/reads`` (one camera credential per
camera, as deployed), a few of them hotlist plates shared with a partner; the latency
of each hit from the moment its camera's post went out to the moment a partner consumer
(the partner's own principal, ``read_committed``) had the record from its hit topic.
``ingest_burst``: batched posts as fast as a few concurrent cameras can, the ingest's
throughput with the pipeline running behind it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import OFFSET_END, TopicPartition

from benchmarks.stats import percentile
from connectors.ingest.credentials import CredentialFile
from connectors.kafka.acls import partner_principal
from connectors.kafka.topics import make_consumer
from pipelines.settings import Settings
from schemas import SingleObjectCodec
from schemas.records import CameraKind, Hit

CAMERAS = 10
# Cameras post about ten times a second each at the steady rate; a rate limit per
# credential far above it, so the limiter never shapes what is measured.
RATE_PER_MINUTE = 1_000_000


def add_cameras(path: Path, agency_ori: str, prefix: str, n: int = CAMERAS) -> dict[str, str]:
    """``n`` camera credentials of ``agency_ori``: camera id -> bearer token."""
    credentials = CredentialFile(path)
    return {
        f"{prefix}-{i}": credentials.add(
            agency_ori, f"{prefix}-{i}", CameraKind.FIXED, rate_per_minute=RATE_PER_MINUTE
        )
        for i in range(n)
    }


def body(plate: str, camera_id: str, collected_at: datetime) -> dict[str, Any]:
    return {
        "plate": plate, "camera_id": camera_id, "camera_kind": "FIXED",
        "collected_at": collected_at.isoformat(), "latitude": 44.98, "longitude": -93.27,
        "region": "us-mn", "confidence": 93.0,
    }  # fmt: skip


@dataclass
class PartnerWatch:
    """A partner's consumer of its hit topic, in a thread: when each plate first arrived."""

    partner: Settings
    partner_ori: str
    arrived: dict[str, float] = field(default_factory=dict)
    stamps: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    """plate -> (matched, produced to the partner's topic, arrived), epoch seconds: the
    hit's match time, its record's Kafka timestamp, and when the consumer got it."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> PartnerWatch:
        self._thread = threading.Thread(target=self._run, name="partner-watch", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the partner consumer did not get its partitions")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _run(self) -> None:
        codec = SingleObjectCodec()
        topic = self.partner.partner_hits_topic(self.partner_ori)
        group = f"{partner_principal(self.partner_ori)}-bench-{uuid.uuid4().hex[:8]}"
        consumer = make_consumer(self.partner, group, **{"isolation.level": "read_committed"})
        try:
            metadata = consumer.list_topics(topic, timeout=20).topics[topic]
            consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in metadata.partitions])
            self._ready.set()
            while not self._stop.is_set():
                # consume() waits out its whole timeout unless 500 records come, which
                # would add up to 50 ms to each hit: poll returns on the first record,
                # and what came with it is taken without waiting.
                first = consumer.poll(0.05)
                if first is None:
                    continue
                for message in [first, *consumer.consume(500, timeout=0)]:
                    now = time.monotonic()
                    value = message.value()
                    if message.error() is None and value is not None:
                        hit = Hit.decode(codec, value)
                        plate = hit.read.plate
                        self.arrived.setdefault(plate, now)
                        produced = message.timestamp()[1] / 1000
                        stamps = (hit.matched_at.timestamp(), produced, time.time())
                        self.stamps.setdefault(plate, stamps)
        finally:
            consumer.close()


async def _post(
    client: httpx.AsyncClient, url: str, token: str, reads: list[dict[str, Any]]
) -> int:
    response = await client.post(
        f"{url}/v1/reads", json=reads, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


def steady_hits(
    url: str,
    tokens: dict[str, str],
    watch: PartnerWatch,
    hot: list[str],
    rate: float,
    seconds: float,
    rng: random.Random,
) -> dict[str, Any]:
    """Posts ``rate`` reads/s for ``seconds``, every ``len(reads)/len(hot)``-th or so a
    plate of ``hot`` (each used once); the latency of each hit's delivery to the partner.
    Before the clock starts, each camera posts one read (no hit) and has its answer:
    the time of these first posts, token checks included, is reported apart."""
    ticks_per_s = 10
    per_tick = max(1, round(rate / ticks_per_s))
    total = int(rate * seconds)
    hit_every = max(1, total // len(hot))
    posted: dict[str, float] = {}
    posted_wall: dict[str, float] = {}
    accepted_wall: dict[str, float] = {}
    statuses: list[int] = []

    async def post(client: httpx.AsyncClient, token: str, reads: list[dict[str, Any]],
                   hits: list[str]) -> int:  # fmt: skip
        status = await _post(client, url, token, reads)
        accepted = time.time()
        for plate in hits:
            accepted_wall[plate] = accepted
        return status

    first_posts: list[float] = []

    async def first_post(client: httpx.AsyncClient, camera: str, token: str) -> int:
        """A camera's first post to this ingest process: its token is checked with
        argon2 (slow on purpose, once per token and process), as after a restart."""
        began = time.monotonic()
        plate = uuid.uuid4().hex[:7].upper()
        status = await _post(client, url, token, [body(plate, camera, datetime.now(UTC))])
        first_posts.append((time.monotonic() - began) * 1000)
        return status

    async def go() -> float:
        cameras = itertools.cycle(tokens.items())
        hot_left = iter(hot)
        pending: list[asyncio.Task[int]] = []
        sent = 0
        async with httpx.AsyncClient(timeout=30) as client:
            # Cameras already connected, as in service: the steady rate is measured
            # from the second post of each, the first ones reported on their own.
            warm = [first_post(client, camera, token) for camera, token in tokens.items()]
            statuses.extend(await asyncio.gather(*warm))
            start = time.monotonic()
            for tick in itertools.count():
                if sent >= total:
                    break
                await asyncio.sleep(max(0.0, start + tick / ticks_per_s - time.monotonic()))
                camera, token = next(cameras)
                now = datetime.now(UTC)
                reads, hits = [], []
                for _ in range(min(per_tick, total - sent)):
                    sent += 1
                    plate = next(hot_left, None) if sent % hit_every == 0 else None
                    if plate is not None:
                        hits.append(plate)
                    else:
                        plate = uuid.uuid4().hex[:7].upper()
                    reads.append(body(plate, camera, now - timedelta(seconds=rng.uniform(0, 1))))
                out, wall = time.monotonic(), time.time()
                for plate in hits:
                    posted[plate] = out
                    posted_wall[plate] = wall
                pending.append(asyncio.create_task(post(client, token, reads, hits)))
            statuses.extend(await asyncio.gather(*pending))
            return time.monotonic() - start

    elapsed = asyncio.run(go())
    deadline = time.monotonic() + 60
    while set(posted) - set(watch.arrived) and time.monotonic() < deadline:
        time.sleep(0.2)
    latencies = [(watch.arrived[p] - t) * 1000 for p, t in posted.items() if p in watch.arrived]
    return {
        "latency_reads_posted": total,
        "latency_posted_reads_per_s": round(total / elapsed, 1),
        "latency_posts_not_accepted": sum(1 for s in statuses if s != 202),
        "latency_hits_posted": len(posted),
        "latency_hits_delivered": len(latencies),
        "latency_first_post_p50_ms": round(percentile(first_posts, 50), 1),
        "latency_first_post_max_ms": round(max(first_posts), 1),
        "hit_latency_p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "hit_latency_p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "hit_latency_max_ms": round(max(latencies), 1) if latencies else None,
        **legs(posted_wall, watch.stamps),
        **accepted_leg(posted_wall, accepted_wall, watch.stamps),
        "hit_latency_slowest": slowest(posted_wall, accepted_wall, watch.stamps),
    }


def slowest(
    posted: dict[str, float],
    accepted: dict[str, float],
    stamps: dict[str, tuple[float, float, float]],
    n: int = 10,
) -> list[dict[str, float]]:
    """The ``n`` slowest hits, each with when it was posted (seconds into the phase) and
    its legs (ms): whether the tail is a few moments (all slow hits close together) or
    spread, and which leg holds it."""
    if not posted:
        return []
    first = min(posted.values())
    rows = []
    for plate, (matched, produced, arrived) in stamps.items():
        if plate not in posted or plate not in accepted:
            continue
        out, ok = posted[plate], accepted[plate]
        rows.append({
            "posted_at_s": round(out - first, 2),
            "posted_epoch_s": round(out, 3),  # to set against the workers' logs
            "total_ms": round((arrived - out) * 1000, 1),
            "post_to_accepted_ms": round((ok - out) * 1000, 1),
            "accepted_to_match_ms": round((matched - ok) * 1000, 1),
            "match_to_partner_topic_ms": round((produced - matched) * 1000, 1),
            "partner_topic_to_consumer_ms": round((arrived - produced) * 1000, 1),
        })  # fmt: skip
    return sorted(rows, key=lambda row: row["total_ms"], reverse=True)[:n]


def accepted_leg(
    posted: dict[str, float],
    accepted: dict[str, float],
    stamps: dict[str, tuple[float, float, float]],
) -> dict[str, Any]:
    """Post to match split at the ingest's answer: post to 202 (the ingest, and Kafka's
    acknowledgement of the batch), and 202 to match (negative where the worker matched
    the read before the camera had its answer)."""
    out: dict[str, Any] = {}
    series = {
        "post_to_accepted": [(accepted[p] - posted[p]) * 1000 for p in accepted if p in posted],
        "accepted_to_match": [(stamps[p][0] - accepted[p]) * 1000 for p in accepted if p in stamps],
    }
    for name, values in series.items():
        if values:
            out[f"hit_leg_{name}_p50_ms"] = round(percentile(values, 50), 1)
            out[f"hit_leg_{name}_p99_ms"] = round(percentile(values, 99), 1)
    return out


def legs(posted: dict[str, float], stamps: dict[str, tuple[float, float, float]]) -> dict[str, Any]:
    """Where a hit's latency goes, p50 and p99 of each leg (ms; one clock, this box's):
    post to match (ingest, ``reads.raw``, the normalize agent), match to the record on
    the partner's topic (``hits``, share's loop), and that record to the partner's
    consumer (share's transaction commit, the partner's fetch)."""
    names = ("post_to_match", "match_to_partner_topic", "partner_topic_to_consumer")
    series: dict[str, list[float]] = {name: [] for name in names}
    for plate, (matched, produced, arrived) in stamps.items():
        if plate in posted:
            points = (posted[plate], matched, produced, arrived)
            for name, (a, b) in zip(names, itertools.pairwise(points), strict=True):
                series[name].append((b - a) * 1000)
    out: dict[str, Any] = {}
    for name, values in series.items():
        if values:
            out[f"hit_leg_{name}_p50_ms"] = round(percentile(values, 50), 1)
            out[f"hit_leg_{name}_p99_ms"] = round(percentile(values, 99), 1)
    return out


def ingest_burst(
    url: str, tokens: dict[str, str], reads: int, batch: int = 500, concurrency: int = 4
) -> dict[str, Any]:
    """``reads`` reads in batches of ``batch``, ``concurrency`` cameras posting at once,
    each its next batch as soon as its last was acknowledged (202)."""
    batches = [min(batch, reads - i) for i in range(0, reads, batch)]
    queue = iter(batches)
    accepted = 0
    refused = 0

    async def camera(client: httpx.AsyncClient, camera_id: str, token: str) -> None:
        nonlocal accepted, refused
        for size in queue:
            now = datetime.now(UTC)
            payload = [body(uuid.uuid4().hex[:7].upper(), camera_id, now) for _ in range(size)]
            if await _post(client, url, token, payload) == 202:
                accepted += size
            else:
                refused += size

    async def go() -> float:
        async with httpx.AsyncClient(timeout=60) as client:
            start = time.monotonic()
            chosen = list(tokens.items())[:concurrency]
            await asyncio.gather(*(camera(client, c, t) for c, t in chosen))
            return time.monotonic() - start

    elapsed = asyncio.run(go())
    return {
        "ingest_reads_per_s": round(accepted / elapsed, 1),
        "ingest_reads_accepted": accepted,
        "ingest_reads_refused": refused,
        "ingest_batch": batch,
        "ingest_concurrent_posts": concurrency,
    }

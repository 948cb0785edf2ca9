"""Scale-out: two workers of one stage set, sharing the partitions, store and deliver the
same records as one worker, also when one of the two is SIGKILLed mid-run.

Two deployments side by side on the shared servers, each with its own topic prefix and
keyspace, both fed the same reads (produced to ``reads.raw``, the ingest's path, with
the same read ids): ``single`` runs one worker, ``pair`` two (same app id, so one
consumer group; each its own worker id, table folder and metrics port, as two hosts
would have). The reads come in two rounds; in the second, one of the pair is killed
while the reads arrive, and the other must take over its partitions (its dedup passes
from their changelog, its share transactions fenced).

Asserted, once both deployments have drained (their consumer groups committed
everything, so nothing more will come): the same stored reads (read ids) as one worker
and as the dedup model says, the same stored hits, the same deliveries to each agency,
no read stored twice and no hit delivered twice. A hit row stored twice is allowed only
for a read after the kill (the match stage's at-least-once, an open fault; see there). Each of the pair stored reads in the first round (both held
partitions). A pass's first read is its best here, so which read a pass stores does
not depend on when its later reads arrive.

Faust's session timeout is 10 s in this test (``BROKER_SESSION_TIMEOUT``; 60 s by
default), so the group notices the killed worker within the test's time.
"""

from __future__ import annotations

import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from cassandra import DriverException, RequestExecutionException
from confluent_kafka import ConsumerGroupState, KafkaException

from benchmarks import fault_harness as harness
from benchmarks.pipeline import metric
from connectors.cassandra import CassandraStore
from connectors.hotlist.files import HotlistSource, parse_csv
from connectors.hotlist.topic import publish_entries
from connectors.kafka.agreements import publish_agreement
from connectors.kafka.topics import admin_client, make_producer
from pipelines.runtime.passes import PassBook
from pipelines.settings import Settings
from pipelines.stages.dedup import DedupPolicy
from schemas import SingleObjectCodec
from schemas.errors import ConfigurationError
from schemas.records import CameraKind, HotlistCategory, PlateRead, new_id, utcnow
from tests.conftest import Process, free_port, provision, settings_env, unique_settings, wait_for
from tests.e2e.harness import OWNER
from tests.factories import an_agreement

CODEC = SingleObjectCodec()
STAGES = "normalize,match,share,store"
PARTITIONS = 4
CAMERAS = [f"scale-cam-{i}" for i in range(12)]
HOT = [f"HOT{i:04d}" for i in range(24)]
ROUND_READS = 300


def make_reads(n: int, rng: random.Random, hot: list[str]) -> list[PlateRead]:
    """``n`` reads over the cameras: vehicle passes of 1-3 reads (the first the most
    confident), one pass in eight of a hotlisted plate (each plate on one camera only,
    so which camera alerts first never depends on timing)."""
    now = utcnow()
    reads: list[PlateRead] = []
    hot = list(hot)
    while len(reads) < n:
        if hot and rng.random() < 0.125:  # about 21 of a round's 170 passes
            plate = hot.pop()
            camera = CAMERAS[int(plate[3:]) % len(CAMERAS)]
        else:
            plate = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
            plate += f"{rng.randrange(10000):04d}"
            camera = rng.choice(CAMERAS)
        collected = now - timedelta(seconds=rng.uniform(30, 60))
        for repeat in range(rng.choice((1, 1, 2, 3))):
            reads.append(
                PlateRead(
                    read_id=new_id(), agency_ori=OWNER, camera_id=camera,
                    camera_kind=CameraKind.FIXED,
                    collected_at=collected + timedelta(milliseconds=200 * repeat),
                    received_at=now, plate=plate, confidence=95.0 - 5 * repeat,
                    expires_at=collected + timedelta(days=60), region="us-mn",
                )
            )  # fmt: skip
    return reads


def stored_by_model(settings: Settings, reads: list[PlateRead]) -> set[str]:
    """The read ids the worker's dedup path stores of ``reads`` (its own ``PassBook``)."""
    passes = PassBook({}, CODEC, DedupPolicy.from_settings(settings), settings.dedup_sites)
    kept = set()
    for read in reads:
        group, folded = passes.fold(read, 0, 0.0)
        passes.commit(group)
        if not folded.duplicate:
            kept.add(read.read_id)
    return kept


@dataclass
class Deployment:
    name: str
    settings: Settings
    workers: list[Process]
    ports: list[int]
    store: CassandraStore

    @property
    def group(self) -> str:
        return f"{self.settings.topic_prefix}-{STAGES.replace(',', '-')}"

    def metric(self, index: int, name: str, **labels: str) -> float:
        return metric(self.ports[index], name, **labels)

    def members(self) -> int:
        """Members of the worker group with partitions, once the group is stable."""
        admin = admin_client(self.settings)
        try:
            group = admin.describe_consumer_groups([self.group])[self.group].result(10)
        except KafkaException:
            return 0
        if group.state != ConsumerGroupState.STABLE:
            return 0
        return sum(1 for m in group.members if m.assignment.topic_partitions)

    def lag(self) -> dict[str, int | None]:
        """Records not yet committed by the worker group and by share's (None: unknown)."""
        s = self.settings
        topics = [s.topic(t) for t in ("reads.raw", "reads.normalized", "dedup-ticks", "reads",
                                       "hits", "audit")]  # fmt: skip
        return {
            "worker": harness.group_lag(s, self.group, topics),
            "share": harness.group_lag(s, f"{s.topic_prefix}-share", [s.topic("hits")]),
        }

    def stored_ids(self) -> list[str]:
        rows = self.store.session.execute(
            f"SELECT read_id FROM {self.store.keyspace}.reads_by_plate"
        )
        return [row.read_id for row in rows]

    def stored_hits(self) -> list[tuple[str, str, str]]:
        rows = self.store.session.execute(
            f"SELECT agency_ori, plate, read_id FROM {self.store.keyspace}.hits_by_agency"
        )
        return [(r.agency_ori, r.plate, r.read_id) for r in rows]

    def deliveries(self) -> list[tuple[str, str, str]]:
        return [
            (d.recipient, d.read_id, d.entry_id) for d in harness.deliveries(self.settings, CODEC)
        ]


def deploy(servers: Settings, name: str) -> Deployment:
    """A deployment's topics, users, keyspace, hotlist and agreement: no worker yet."""
    settings = provision(
        unique_settings(
            servers,
            topic_partitions=PARTITIONS,
            dedup_settle_seconds=0.5,
            store_batch_seconds=0.2,
        )
    )
    producer = make_producer(settings, "scale-out")
    source = HotlistSource("scale", "NCIC", OWNER, HotlistCategory.STOLEN_VEHICLE)
    csv = "plate,state\n" + "\n".join(f"{p},MN" for p in HOT)
    publish_entries(settings, producer, CODEC, parse_csv(csv, source).entries)
    publish_agreement(settings, producer, CODEC, an_agreement())  # owner -> partner, stolen
    producer.flush(30)
    # A loaded box may not answer a first connection in the driver's 5 s: ask again.
    store = wait_for(partial(connected, settings), 60, "a Cassandra session")
    return Deployment(name, settings, [], [], store)


def connected(settings: Settings) -> CassandraStore | None:
    try:
        return CassandraStore(settings, create_schema=False)  # provision made its tables
    except ConfigurationError:
        return None


def start_workers(deployment: Deployment, workers: int, logs: Path) -> None:
    settings = deployment.settings
    for index in range(workers):
        port = free_port()
        env = {
            **settings_env(settings),
            # Two hosts' worth of identity on one machine: the share stage's transactional
            # id and the follower groups start with the worker id; RocksDB locks its folder.
            "LPRX_WORKER_ID": f"{settings.worker_id}-{index}",
            "LPRX_TABLE_DATA_DIR": str(logs / f"{deployment.name}-{index}-tables"),
            "BROKER_SESSION_TIMEOUT": "10",
        }
        args = ["worker", "--stages", STAGES, "--metrics-port", str(port), "--loglevel", "info"]
        deployment.ports.append(port)
        deployment.workers.append(Process(args, env, logs / f"{deployment.name}-{index}.log"))


@pytest.fixture
def deployments(servers: Settings, tmp_path: Path) -> Iterator[tuple[Deployment, Deployment]]:
    with ThreadPoolExecutor(2) as pool:  # provisioning is mostly waiting on the servers
        made = [pool.submit(deploy, servers, name) for name in ("single", "pair")]
        single, pair = (future.result() for future in made)
    try:
        start_workers(single, 1, tmp_path)
        start_workers(pair, 2, tmp_path)
        yield single, pair
    except BaseException:
        for deployment in (single, pair):
            for index, worker in enumerate(deployment.workers):
                print(f"--- {deployment.name} worker {index} ---\n{worker.output()}")
        raise
    finally:
        workers = [w for d in (single, pair) for w in d.workers]
        for worker in workers:  # all asked at once, then each waited for
            if worker.alive():
                worker.popen.terminate()
        for worker in workers:
            worker.stop()
        for deployment in (single, pair):
            store = deployment.store
            store.session.execute(f"DROP KEYSPACE IF EXISTS {store.keyspace}", timeout=180)
            store.close()


def produce(deployments: tuple[Deployment, ...], reads: list[PlateRead], per_s: float) -> None:
    """The same reads to every deployment, keyed as the ingest keys them, at ``per_s``."""
    producers = [make_producer(d.settings, "scale-out-cameras") for d in deployments]
    start = time.monotonic()
    for i, read in enumerate(reads):
        value = read.encode(CODEC)
        for deployment, producer in zip(deployments, producers, strict=True):
            topic = deployment.settings.topic("reads.raw")
            producer.produce(topic, key=deployment.settings.dedup_group(read.camera_id).encode(),
                             value=value)  # fmt: skip
            producer.poll(0)
        time.sleep(max(0.0, start + (i + 1) / per_s - time.monotonic()))
    for producer in producers:
        assert producer.flush(30) == 0


def ready(deployment: Deployment, index: int) -> bool:
    worker = deployment.workers[index]
    assert worker.alive(), f"{deployment.name} worker {index} exited:\n{worker.output()}"
    # Ready: the hotlist loaded, the group's partitions assigned and recovered, share
    # started (pipelines/health.py).
    return (
        deployment.metric(index, "lprx_hotlist_entries") >= len(HOT)
        and deployment.metric(index, "lprx_ready") == 1
    )


def show_share_log(deployment: Deployment) -> None:
    """What the share loops and the rebalances logged: a test that fails cannot throw
    into the fixture, and the whole log is too long for CI's output."""
    for index, worker in enumerate(deployment.workers):
        worker.output()  # flushed
        lines = worker.log_path.read_text(errors="replace").splitlines()
        shown = [line for line in lines if SHARE_LOG.search(line)]
        print(f"--- {deployment.name} worker {index}: {len(shown)} share lines ---")
        print("\n".join(shown[-80:]))


SHARE_LOG = re.compile(r"share|hit-alerts|transaction|rebalanc|assign|revok", re.IGNORECASE)


def group_complete(deployment: Deployment) -> bool:
    return deployment.members() == len(deployment.workers)


def drained(deployments: tuple[Deployment, ...], want: set[str]) -> bool:
    states = {}
    try:
        for d in deployments:
            missing = want - set(d.stored_ids())
            letters = harness.dead_letters(d.settings, CODEC) if missing else {}
            states[d.name] = (sorted(missing)[:10], len(want), d.lag(), letters)
    except (DriverException, RequestExecutionException, KafkaException) as error:
        print("not answered now (a loaded box):", error)  # asked again
        return False
    print("missing of wanted, lags, dead letters:", states)  # shown when the wait fails
    return all(not missing and set(lags.values()) == {0} for missing, _, lags, _ in states.values())


@pytest.mark.timeout(600)
def test_two_workers_store_and_deliver_what_one_does_also_when_one_is_killed(
    deployments: tuple[Deployment, Deployment],
) -> None:
    single, pair = deployments
    both = (single, pair)
    rng = random.Random(15)
    half = len(HOT) // 2
    first = make_reads(ROUND_READS, rng, HOT[:half])
    second = make_reads(ROUND_READS, rng, HOT[half:])
    want = stored_by_model(single.settings, first + second)
    # Every read of a listed plate is a hit, stored; only a plate's first is delivered
    # (the others are repeats), and it is the read its pass stores.
    hot_reads = {r.read_id for r in first + second if r.plate in HOT}
    first_hot_reads = hot_reads & want
    assert len(first_hot_reads) == len(HOT) < len(hot_reads)

    for deployment in both:
        for index in range(len(deployment.workers)):
            wait_for(partial(ready, deployment, index), 180, f"{deployment.name} {index} ready")

    # Every worker in the group, and ready again after the rebalance its joining made.
    for deployment in both:
        wait_for(partial(group_complete, deployment), 120, "a stable group")
        for index in range(len(deployment.workers)):
            wait_for(partial(ready, deployment, index), 120, f"{deployment.name} {index} ready")

    # Round one: both of the pair hold partitions, so both store some of the reads.
    produce(both, first, per_s=600)
    want_first = stored_by_model(single.settings, first)
    wait_for(lambda: drained(both, want_first), 180, "round one stored and drained", every=2)
    for index in (0, 1):
        assert pair.metric(index, "lprx_records_total", stage="store", outcome="ok") > 0

    # Round two: one of the pair SIGKILLed a second into it, the other takes over.
    victim = pair.workers[1].popen
    killer = threading.Timer(1.0, victim.send_signal, (signal.SIGKILL,))  # a node failure
    killer.start()
    produce(both, second, per_s=100)
    killer.join()
    assert victim.wait(10) == -signal.SIGKILL
    try:
        wait_for(lambda: drained(both, want), 240, "round two stored and drained", every=2)
    except AssertionError:
        show_share_log(pair)
        raise

    expected = {OWNER: len(HOT), an_agreement().partner_agency_ori: len(HOT)}

    def every_delivery(d: Deployment) -> bool:
        return Counter(r for r, _, _ in d.deliveries()) == expected

    for deployment in both:
        stored = deployment.stored_ids()
        assert len(stored) == len(set(stored)), f"{deployment.name}: a read stored twice"
        assert set(stored) == want, f"{deployment.name}: not what the dedup model stores"
        hits = deployment.stored_hits()
        assert {read_id for _, _, read_id in hits} == hot_reads
        twice = {read_id for (_, _, read_id), n in Counter(hits).items() if n > 1}
        # Even a read the killed worker had matched but not committed, matched again by
        # the other under the same hit id and a later time, keeps one row.
        assert not twice, f"{deployment.name}: a hit stored twice"
        # A transaction's commit markers reach each topic a moment apart: the share
        # group's offsets can be committed just before its last deliveries can be read.
        with suppress(AssertionError):  # the assertions below say what is wrong
            wait_for(partial(every_delivery, deployment), 30, f"{deployment.name} deliveries")
        delivered = Counter(deployment.deliveries())
        assert delivered and max(delivered.values()) == 1, f"{deployment.name}: doubled"
        assert {read_id for _, read_id, _ in delivered} == first_hot_reads
        recipients = Counter(recipient for recipient, _, _ in delivered)
        assert recipients == expected
    assert set(pair.stored_hits()) == set(single.stored_hits())
    assert set(pair.deliveries()) == set(single.deliveries())
    assert pair.workers[0].alive(), pair.workers[0].output()
